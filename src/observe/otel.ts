/**
 * OpenTelemetry spans and metrics for `create()` requests, after the GenAI semantic conventions
 * for embeddings. `@opentelemetry/api` is an optional peer dependency: it is imported on the
 * first request, never at load, and without it (or without a registered provider, where the
 * API hands out no-op tracers and meters) nothing is recorded. No vector, no text.
 */
import type { Attributes, Histogram, Meter, MeterProvider, Span, Tracer } from '@opentelemetry/api';
import { VERSION } from '../version.js';

type OtelApi = typeof import('@opentelemetry/api');

export const INSTRUMENTATION_NAME = 'embedrail';

/** The bucket boundaries the conventions advise for the two histograms. */
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

/**
 * Named through a variable: a bundler that meets `import('@opentelemetry/api')` tries to bundle
 * it, and fails the build of every app that has not installed it.
 */
const OTEL_API: string = '@opentelemetry/api';

let loading: Promise<OtelApi | undefined> | undefined;

/** The API module, or undefined when it is not installed; imported once, on the first request. */
export function loadOtel(): Promise<OtelApi | undefined> {
  return (loading ??= import(/* webpackIgnore: true */ /* @vite-ignore */ OTEL_API).then(
    (api: OtelApi) => api,
    () => undefined,
  ));
}

interface Instruments {
  provider: MeterProvider;
  duration: Histogram;
  tokens: Histogram;
}
let instruments: Instruments | undefined;
let tracer: Tracer | undefined;

/**
 * The histograms of the meter provider registered now: unlike tracers, a meter taken before the
 * application registers its provider stays a no-op for good, so they are taken again when the
 * provider changes.
 */
function instrumentsOf(api: OtelApi): Instruments {
  const provider = api.metrics.getMeterProvider();
  if (instruments?.provider === provider) return instruments;
  const meter: Meter = provider.getMeter(INSTRUMENTATION_NAME, VERSION);
  instruments = {
    provider,
    duration: meter.createHistogram('gen_ai.client.operation.duration', {
      description: 'GenAI operation duration',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    tokens: meter.createHistogram('gen_ai.client.token.usage', {
      description: 'Measures number of input and output tokens used',
      unit: '{token}',
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    }),
  };
  return instruments;
}

/** What is known of a request before it is sent. */
export interface SpanStart {
  model: string;
  baseURL: string;
  encodingFormat: string | undefined;
  dimensions: number | undefined;
  inputs: number;
  preset: string;
}

/** What is known once it ended. */
export interface SpanEnd {
  attempts: number;
  status: number | undefined;
  responseModel?: string | undefined;
  inputTokens?: number | undefined;
  /** Length of the returned vectors. */
  dimensions?: number | undefined;
  /** `error.type`: the status code, `timeout`, or the error's class name. */
  errorType?: string | undefined;
}

/** One request's span and its metric attributes. */
export class RequestSpan {
  readonly #api: OtelApi;
  readonly #span: Span;
  readonly #common: Attributes;
  readonly #askedDimensions: boolean;
  readonly #startedAt = performance.now();

  constructor(api: OtelApi, start: SpanStart) {
    this.#api = api;
    this.#askedDimensions = start.dimensions !== undefined;
    const { hostname, port, protocol } = new URL(start.baseURL);
    const address = hostname.replace(/^\[(.*)\]$/, '$1');
    this.#common = {
      'gen_ai.operation.name': 'embeddings',
      'gen_ai.provider.name': providerName(address, start.preset),
      'gen_ai.request.model': start.model,
      'server.address': address,
      'server.port': port === '' ? (protocol === 'https:' ? 443 : 80) : Number(port),
    };
    tracer ??= api.trace.getTracer(INSTRUMENTATION_NAME, VERSION);
    this.#span = tracer.startSpan(`embeddings ${start.model}`, {
      kind: api.SpanKind.CLIENT,
      attributes: {
        ...this.#common,
        ...(start.encodingFormat === undefined ? {} : { 'gen_ai.request.encoding_formats': [start.encodingFormat] }),
        ...(start.dimensions === undefined ? {} : { 'gen_ai.embeddings.dimension.count': start.dimensions }),
        'embedrail.request.input_count': start.inputs,
      },
    });
  }

  /** A point in the request's life (a retry, a rate-limit wait), as a span event. */
  event(name: string, attributes: Attributes): void {
    this.#span.addEvent(name, attributes);
  }

  end(end: SpanEnd): void {
    const seconds = (performance.now() - this.#startedAt) / 1000;
    const metric: Attributes = { ...this.#common };
    if (end.responseModel !== undefined) metric['gen_ai.response.model'] = end.responseModel;
    if (end.errorType !== undefined) metric['error.type'] = end.errorType;
    const span: Attributes = { ...metric, 'embedrail.attempts': end.attempts };
    if (end.status !== undefined) span['http.response.status_code'] = end.status;
    if (end.inputTokens !== undefined) span['gen_ai.usage.input_tokens'] = end.inputTokens;
    // The conventions' count is the one asked for; without one, the vectors' length says it.
    if (!this.#askedDimensions && end.dimensions !== undefined)
      span['gen_ai.embeddings.dimension.count'] = end.dimensions;
    this.#span.setAttributes(span);
    // The status says what failed, not the error's message: a server's message may quote an input.
    if (end.errorType !== undefined) {
      this.#span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: end.errorType });
    }
    this.#span.end();
    const { duration, tokens } = instrumentsOf(this.#api);
    duration.record(seconds, metric);
    if (end.inputTokens !== undefined) tokens.record(end.inputTokens, { ...metric, 'gen_ai.token.type': 'input' });
  }
}

/** The conventions' well-known provider names, by preset. */
const WELL_KNOWN: Readonly<Record<string, string>> = {
  azure: 'azure.ai.openai',
  mistral: 'mistral_ai',
  'gemini-openai': 'gcp.gemini',
  'cohere-compat': 'cohere',
};

/**
 * `gen_ai.provider.name`: the conventions' well-known value for the preset or the host, else
 * the preset's own name; a server reached without a preset speaks OpenAI's API, which the
 * conventions name `openai` for clients that cannot tell more.
 */
export function providerName(host: string, preset: string): string {
  if (WELL_KNOWN[preset] !== undefined) return WELL_KNOWN[preset];
  if (preset !== 'openai') return preset;
  if (host.endsWith('.openai.azure.com') || host.endsWith('.services.ai.azure.com')) return 'azure.ai.openai';
  if (host === 'api.mistral.ai') return 'mistral_ai';
  if (host === 'generativelanguage.googleapis.com') return 'gcp.gemini';
  if (host === 'api.cohere.ai' || host === 'api.cohere.com') return 'cohere';
  return 'openai';
}
