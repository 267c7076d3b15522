import { expect } from 'vitest';

/** Asserts captured log text holds no JWT (every JWS header starts with base64url('{"') = "eyJ") and none of `secrets`. */
export function expectNoSecrets(logText: string[], secrets: string[]): void {
  const all = logText.join('');
  expect(all.length).toBeGreaterThan(0);
  expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
  for (const s of secrets) expect(all).not.toContain(s);
}
