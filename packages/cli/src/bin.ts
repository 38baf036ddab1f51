#!/usr/bin/env node
import { main } from './main.js';

// `hierglow ... | head` closes the pipe early: stop quietly, as Unix tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const controller = new AbortController();
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130); // second Ctrl-C: stop now
  interrupted = true;
  process.stderr.write(
    '\nhierglow: interrupted; stopping (training saves a resumable checkpoint first; Ctrl-C again to quit now)\n',
  );
  controller.abort();
});

const code = await main(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  signal: controller.signal,
});
process.exitCode = interrupted && code === 0 ? 130 : code;
