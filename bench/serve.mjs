// A local server in its own process, so the client's CPU time and memory are measured alone.
// Forked by the benchmarks with the server options as JSON in argv[2]; it answers
// { url } once listening, { stats } when sent 'stats', and closes and exits on 'close'.
import { createServer } from '../dist/server.js';

const server = createServer(JSON.parse(process.argv[2] ?? '{}'));
const { url } = await server.listen(0, '127.0.0.1');
process.send({ url });
process.on('message', async (message) => {
  if (message === 'stats') process.send({ stats: server.stats });
  if (message === 'close') {
    await server.close();
    process.disconnect();
  }
});
