/** This build's version (kept in step with cmd/trellis/package.json by a test). */
export const VERSION = '0.1.0';
