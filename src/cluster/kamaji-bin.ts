import { join } from 'node:path';

/** The CLI entry point, for the processes Kamaji starts of itself (owners, the manager). */
export const KAMAJI_BIN = join(import.meta.dirname, '..', '..', 'bin', 'kamaji.js');
