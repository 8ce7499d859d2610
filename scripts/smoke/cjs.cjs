// `require` from the installed package, as a CommonJS user writes it.
'use strict';
const embedrail = require('embedrail');
const embedrailServer = require('embedrail/server');
const run = require('./scenario.cjs');

if (typeof embedrail.EmbeddingsClient !== 'function') throw new Error('CJS: EmbeddingsClient is not exported');
run('CJS', embedrail, embedrailServer).catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
