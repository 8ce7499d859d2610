import { metrics, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type HistogramMetricData,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { BadRequestError, EmbeddingsClient, type ClientEvents } from '../src/index.js';
import { useFakeApi } from './support/fake-api.js';
import { failure, recordingLogger } from './support/observe.js';
import { mismatchedIndexes, numberedTexts, openAILike } from './support/openai-like.js';

const api = useFakeApi(...openAILike().handlers);
const KEY = 'sk-test-OBSERVE-0123456789abcdef';
const MODEL = 'text-embedding-3-small';

const spans = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
// Exports only when flushed: the interval is never reached by a test.
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
const meterProvider = new MeterProvider({ readers: [reader] });

beforeAll(() => {
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
});
afterEach(() => {
  spans.reset();
  metricExporter.reset();
});
afterAll(async () => {
  trace.disable();
  metrics.disable();
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
});

/** The histogram `name` as last flushed, by data point. */
async function histogram(name: string) {
  await reader.forceFlush();
  const all = metricExporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
  const found = all.filter((m) => m.descriptor.name === name).at(-1) as HistogramMetricData | undefined;
  return found;
}

/** Every event of every kind, in order. */
function listenToAll(client: EmbeddingsClient) {
  const events: { name: keyof ClientEvents; payload: unknown }[] = [];
  const names = ['request', 'attempt', 'response', 'retry', 'rateLimitWait', 'requestEnd', 'batchProgress'] as const;
  for (const name of names) client.on(name, (payload) => events.push({ name, payload }));
  return events;
}

/** 30 texts in 3 requests: the first to arrive gets a 429, the third a 500; both are retried. */
function jobWithRetries() {
  const backend = openAILike({
    intercept: (_request, all) =>
      all.length === 1 ? failure(429, 20) : all.length === 3 ? failure(500, 1) : undefined,
  });
  api.use(...backend.handlers);
  return backend;
}

describe('OpenTelemetry', () => {
  test('a createMany job with a 429 and a 500 gives one span per request, with the GenAI attributes, and both metrics', async () => {
    const backend = jobWithRetries();
    const { logger, lines } = recordingLogger();
    const client = new EmbeddingsClient({ baseURL: api.url, apiKey: KEY, logger, logLevel: 'debug' });
    const input = numberedTexts(30, 'private words');
    const res = await client.embeddings.createMany({ model: MODEL, input }, { maxInputsPerRequest: 10 });
    await client.close();
    expect(mismatchedIndexes(res.data, input)).toEqual([]);
    expect(backend.seen.map((r) => r.status)).toEqual([429, 200, 500, 200, 200]);

    const finished = spans.getFinishedSpans();
    expect(finished).toHaveLength(3);
    const port = Number(new URL(api.url).port);
    for (const span of finished) {
      expect(span.name).toBe(`embeddings ${MODEL}`);
      expect(span.kind).toBe(SpanKind.CLIENT);
      expect(span.status.code).not.toBe(SpanStatusCode.ERROR);
      expect(span.attributes).toEqual({
        'gen_ai.operation.name': 'embeddings',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': MODEL,
        'gen_ai.response.model': MODEL,
        'gen_ai.request.encoding_formats': ['base64'],
        'gen_ai.embeddings.dimension.count': 8,
        'gen_ai.usage.input_tokens': expect.any(Number),
        'server.address': '127.0.0.1',
        'server.port': port,
        'http.response.status_code': 200,
        'embedrail.request.input_count': 10,
        'embedrail.attempts': span.events.some((e) => e.name === 'retry') ? 2 : 1,
      });
    }
    // Each span's tokens are the tokens the server counted for its request.
    const spanTokens = finished.map((s) => s.attributes['gen_ai.usage.input_tokens'] as number);
    const answeredTokens = backend.seen.filter((r) => r.status === 200).map((r) => r.tokens);
    expect(spanTokens.sort()).toEqual(answeredTokens.sort());
    const retries = finished.flatMap((s) => s.events.filter((e) => e.name === 'retry'));
    expect(retries.map((e) => e.attributes?.['error.type']).sort()).toEqual(['429', '500']);
    expect(finished.flatMap((s) => s.events).some((e) => e.name === 'rate_limit_wait')).toBe(true);

    const duration = await histogram('gen_ai.client.operation.duration');
    expect(duration?.descriptor.unit).toBe('s');
    expect(duration?.dataPoints).toHaveLength(1);
    expect(duration?.dataPoints[0]!.value.count).toBe(3);
    expect(duration?.dataPoints[0]!.attributes).toEqual({
      'gen_ai.operation.name': 'embeddings',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': MODEL,
      'gen_ai.response.model': MODEL,
      'server.address': '127.0.0.1',
      'server.port': port,
    });
    const usage = await histogram('gen_ai.client.token.usage');
    expect(usage?.dataPoints).toHaveLength(1);
    expect(usage?.dataPoints[0]!.attributes['gen_ai.token.type']).toBe('input');
    expect(usage?.dataPoints[0]!.value.count).toBe(3);
    expect(usage?.dataPoints[0]!.value.sum).toBe(res.usage.prompt_tokens);

    // The log tells the same story: each answer at debug, each retry at info, with its reason.
    const answered = lines.filter((l) => / answered \d+ in \d+ ms/.test(l.message));
    expect(answered.map((l) => l.message.match(/answered (\d+)/)![1]).sort()).toEqual([
      '200',
      '200',
      '200',
      '429',
      '500',
    ]);
    expect(answered.every((l) => l.level === 'debug' && l.message.includes(`POST ${api.url}/embeddings`))).toBe(true);
    expect(answered.filter((l) => / 200 in .*request id req_\d+/.test(l.message))).toHaveLength(3);
    const retried = lines.filter((l) => l.message.includes('retrying'));
    expect(retried.map((l) => l.level)).toEqual(['info', 'info']);
    expect(retried.map((l) => /status (\d+) \((\w+)\)/.exec(l.message)!.slice(1).join(' ')).sort()).toEqual([
      '429 RateLimitError',
      '500 InternalServerError',
    ]);
    // The job's later requests wait while its first is alone in flight; why each waits (slow start,
    // the 429's pause, the line) depends on when the answers come, so any reason will do here.
    expect(
      lines.some(
        (l) =>
          l.level === 'info' && /waiting for a rate-limit turn \((slow-start|429|queued|rate-limit)/.test(l.message),
      ),
    ).toBe(true);
  });

  test('a failed request ends its span as an error with error.type, and its duration is recorded with it', async () => {
    api.use(...openAILike({ failText: () => true }).handlers);
    const client = new EmbeddingsClient({ baseURL: api.url, apiKey: KEY });
    await expect(client.embeddings.create({ model: MODEL, input: 'refused text' })).rejects.toThrow(BadRequestError);
    await client.close();
    const [span] = spans.getFinishedSpans();
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: '400' });
    expect(span?.attributes['error.type']).toBe('400');
    expect(span?.attributes['http.response.status_code']).toBe(400);
    expect(span?.attributes).not.toHaveProperty('gen_ai.usage.input_tokens');
    const duration = await histogram('gen_ai.client.operation.duration');
    expect(duration?.dataPoints.find((p) => p.attributes['error.type'] === '400')?.value.count).toBe(1);
  });

  test('dimensions asked for are the span dimension count', async () => {
    api.use(...openAILike().handlers);
    const client = new EmbeddingsClient({ baseURL: api.url });
    await client.embeddings.create({ model: MODEL, input: ['a', 'b'], dimensions: 16, encoding_format: 'float' });
    await client.close();
    const [span] = spans.getFinishedSpans();
    expect(span?.attributes['gen_ai.embeddings.dimension.count']).toBe(16);
    expect(span?.attributes['gen_ai.request.encoding_formats']).toEqual(['float']);
    expect(span?.attributes['embedrail.request.input_count']).toBe(2);
  });
});

test('the preset names the provider; a server asked for its default floats gets no encoding_formats', async () => {
  api.use(...openAILike().handlers);
  for (const [preset, provider] of [
    ['ollama', 'ollama'],
    ['mistral', 'mistral_ai'],
  ] as const) {
    const client = new EmbeddingsClient({ baseURL: api.url, apiKey: KEY, preset });
    await client.embeddings.create({ model: MODEL, input: 'x' });
    await client.close();
    const span = spans.getFinishedSpans().at(-1)!;
    expect(span.attributes['gen_ai.provider.name']).toBe(provider);
    if (preset === 'ollama') expect(span.attributes).not.toHaveProperty('gen_ai.request.encoding_formats');
  }
});

describe('what the client tells never holds the key or the input text', () => {
  /** Every span, metric point, log line and event payload of a job with retries, as one text. */
  async function everythingTold(options: { logLevel?: 'debug'; logInputs?: boolean }) {
    jobWithRetries();
    const { logger, lines } = recordingLogger();
    const client = new EmbeddingsClient({ baseURL: api.url, apiKey: KEY, logger, ...options });
    const events = listenToAll(client);
    const input = numberedTexts(30, 'private words');
    await client.embeddings.createMany({ model: MODEL, input }, { maxInputsPerRequest: 10 });
    await client.close();
    await reader.forceFlush();
    const told = JSON.stringify({
      spans: spans
        .getFinishedSpans()
        .map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status })),
      metrics: metricExporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics)),
      lines,
      events,
    });
    return { told, lines, events };
  }

  test('at the default level, and at debug without logInputs', async () => {
    for (const options of [{}, { logLevel: 'debug' as const }]) {
      const { told, events } = await everythingTold(options);
      expect(events.length).toBeGreaterThan(10);
      expect(told).not.toContain(KEY);
      expect(told).not.toContain('private words');
      expect(told).toContain('gen_ai.usage.input_tokens');
      spans.reset();
      metricExporter.reset();
    }
  });

  test('logInputs at debug is the one way input text reaches the log', async () => {
    const { told, lines } = await everythingTold({ logLevel: 'debug', logInputs: true });
    const withText = lines.filter((l) => JSON.stringify(l.fields).includes('private words number 0'));
    expect(withText).toHaveLength(1);
    expect(withText[0]!.level).toBe('debug');
    expect(told).not.toContain(KEY);
  });
});
