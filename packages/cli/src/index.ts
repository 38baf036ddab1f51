export type { Command, CommandIO } from './command.js';
export { main, VERSION } from './main.js';
