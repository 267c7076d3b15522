# Portcullis gateway image. Build: docker build -t portcullis .
# Runs as the unprivileged `node` user, listens on all interfaces (PORTCULLIS_HOST), and starts
# deploy/gateway.production.yaml (/etc/portcullis/gateway.yaml): mount keys, secrets and your own
# configuration there (deploy/helm/portcullis does). Checked by test/deploy/image.test.ts.
FROM node:26-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY bin ./bin
# `npm ci` builds dist/ (the prepare script); the dev dependencies go afterwards.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:26-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY package.json ./
COPY schema ./schema
COPY policies/build ./policies/build
COPY deploy/gateway.production.yaml /etc/portcullis/gateway.yaml
RUN mkdir -p /var/lib/portcullis/audit /app/.portcullis && chown -R node:node /var/lib/portcullis /app/.portcullis
USER node
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8081/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/portcullis.js"]
CMD ["start", "--config", "/etc/portcullis/gateway.yaml"]
