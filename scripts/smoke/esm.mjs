// `import` from the installed package, as an ES module user writes it.
import { EmbeddingsClient } from 'embedrail';
import * as embedrail from 'embedrail';
import * as embedrailServer from 'embedrail/server';
import run from './scenario.cjs';

if (typeof EmbeddingsClient !== 'function') throw new Error('ESM: EmbeddingsClient is not exported');
await run('ESM', embedrail, embedrailServer);
