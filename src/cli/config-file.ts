/** Loads and compiles the config named by --config (default ./gateway.yaml). */
import { compileConfig, type RuntimeConfig } from '../config/compile.js';
import { loadConfigFile } from '../config/load.js';

export const DEFAULT_CONFIG = 'gateway.yaml';

export function loadRuntimeConfig(file: string | undefined): RuntimeConfig {
  const { raw, baseDir } = loadConfigFile(file ?? DEFAULT_CONFIG);
  return compileConfig(raw, baseDir);
}
