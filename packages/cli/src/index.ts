/** @dtx/cli: the `dtx` command, as a library for embedding and tests. */
export { buildProgram, type Io, loadConfig } from './commands.js';
