import test from 'ava';
import { dialerOf } from '../../bench/compare-etcd-cluster.js';

const relays = ['http://127.0.0.1:4001', 'http://127.0.0.1:4002', 'http://127.0.0.1:4003'];
const request = (headers: string) => Buffer.from(`GET /raft/stream/msgappv2/8e9e05c52164694d HTTP/1.1\r\nHost: 127.0.0.1:4003\r\n${headers}\r\n`, 'latin1');

test('the dialer is the member whose relay URL its X-PeerURLs header names (Go canonical header case)', (t) => {
  t.is(dialerOf(request('X-Server-From: 1\r\nX-Peerurls: http://127.0.0.1:4002\r\n'), relays), 1);
  t.is(dialerOf(request('X-PeerURLs: http://10.0.0.1:1,http://127.0.0.1:4001/\r\n'), relays), 0);
});

test('waits for more bytes while the headers are incomplete; unknown once they end without the header', (t) => {
  t.is(dialerOf(Buffer.from('GET /version HTTP/1.1\r\nHost: x\r\n'), relays), undefined);
  t.is(dialerOf(Buffer.from('POST /raft HTTP/1.1\r\nX-Peerurls: http://127.0.0'), relays), undefined);
  t.is(dialerOf(request('User-Agent: Go-http-client/1.1\r\n'), relays), 'unknown');
  t.is(dialerOf(request('X-Peerurls: http://127.0.0.1:9999\r\n'), relays), 'unknown');
});
