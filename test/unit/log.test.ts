import t from 'tap';
import { record } from '../../src/log.js';

t.test('a record is the line pino wrote: level, time, the fields in order, msg', async (t) => {
  t.equal(
    record(30, '2026-11-30T07:00:00.000Z', { object: 'link vx0', gone: undefined, n: null, q: 'a"b' }, '+ link vx0'),
    '{"level":30,"time":"2026-11-30T07:00:00.000Z","object":"link vx0","n":null,"q":"a\\"b","msg":"+ link vx0"}\n',
  );
  t.equal(record(40, undefined, {}, 'journal: no time'), '{"level":40,"msg":"journal: no time"}\n');
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  t.same(JSON.parse(record(50, undefined, { cyclic })), { level: 50, cyclic: '[unserializable]' });
});
