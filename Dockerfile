# Portcullis gateway image. Build: docker build -t portcullis .
FROM node:26-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY bin ./bin
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:26-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY package.json gateway.yaml ./
COPY policies/build ./policies/build
RUN mkdir -p /app/.portcullis /app/audit && chown node /app/.portcullis /app/audit
USER node
EXPOSE 8080 8081
ENTRYPOINT ["node", "bin/portcullis.js"]
CMD ["start", "--config", "gateway.yaml"]
