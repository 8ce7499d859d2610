import { fork } from 'node:child_process';

/**
 * Starts bench/serve.mjs in a child process with `options` and resolves once it listens.
 * The child's CPU and memory stay out of the figures of the process that measures.
 */
export async function startChildServer(options) {
  const child = fork(new URL('./serve.mjs', import.meta.url), [JSON.stringify(options)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = () =>
    new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`bench server exited with code ${code}`)));
    });
  const { url } = await next();
  return {
    url,
    async stats() {
      const reply = next();
      child.send('stats');
      return (await reply).stats;
    },
    async close() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('close');
      await exited;
    },
  };
}
