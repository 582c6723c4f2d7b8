// Fixed-rate load for bench/run.py: POST a 1 KiB chat-completions JSON body at a constant arrival
// rate (k6's constant-arrival-rate executor is open-loop: latency cannot slow the sender down, so
// the percentiles include queueing, unlike a closed-loop wrk run).
// Env: TARGET (URL), RATE (req/s, default 1000), DURATION (default 10s), VUS (pre-allocated, 64),
// SCENARIO = json | sse (sse sends "stream": true and checks the stream's terminal event),
// SUMMARY_FILE (where handleSummary writes the JSON summary).
import http from 'k6/http';
import { check } from 'k6';

const scenario = __ENV.SCENARIO || 'json';
const streamed = scenario === 'sse';
const head = streamed
  ? '{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"'
  : '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"';
const tail = '"}]}';
const body = head + 'lorem ipsum dolor sit amet '.repeat(64).slice(0, 1024 - head.length - tail.length) + tail;
const params = { headers: { 'Content-Type': 'application/json' } };

export const options = {
  discardResponseBodies: !streamed,
  summaryTrendStats: ['avg', 'min', 'med', 'p(50)', 'p(90)', 'p(99)', 'max'],
  scenarios: {
    fixed_rate: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 1000),
      timeUnit: '1s',
      duration: __ENV.DURATION || '10s',
      preAllocatedVUs: Number(__ENV.VUS || 64),
      maxVUs: Number(__ENV.VUS || 64) * 4,
    },
  },
};

export default function () {
  const res = http.post(__ENV.TARGET, body, params);
  if (streamed) {
    check(res, {
      'status 200': (r) => r.status === 200,
      'stream complete': (r) => r.body.includes('[DONE]') || r.body.includes('message_stop'),
    });
  } else {
    check(res, { 'status 200': (r) => r.status === 200 });
  }
}

export function handleSummary(data) {
  const out = {};
  out[__ENV.SUMMARY_FILE || 'k6-summary.json'] = JSON.stringify(data);
  return out;
}
