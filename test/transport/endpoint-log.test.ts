import test from 'ava';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { Endpoint } from '../../transport/endpoint.js';

/** A pino logger whose JSON lines land in `lines`. */
function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

test('connection events are logged with the GUUID (hex) as trace id, the same on both sides', async (t) => {
  const la = capture();
  const lb = capture();
  const a = await Endpoint.bind('127.0.0.1:0', { log: la.log });
  const b = await Endpoint.bind('127.0.0.1:0', { log: lb.log });
  try {
    await a.send(b.address, Buffer.from('hello'));
  } finally {
    await a.close();
    await b.close();
  }
  await new Promise((resolve) => setImmediate(resolve));
  const msgs = (lines: Record<string, unknown>[]) => lines.map((l) => l['msg']);
  t.deepEqual(msgs(la.lines).slice(0, 2), ['quantum connecting', 'quantum handshake complete']);
  t.true(msgs(la.lines).includes('quantum connection closed'));
  t.true(msgs(lb.lines).includes('quantum connection accepted'));
  t.true(msgs(lb.lines).includes('quantum handshake complete'));
  const guuid = la.lines[0]!['guuid'];
  t.regex(String(guuid), /^[0-9a-f]{32}$/);
  for (const l of [...la.lines, ...lb.lines]) t.is(l['guuid'], guuid);
});
