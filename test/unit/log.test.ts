import t from 'tap';
import { isoTime } from '../../src/log.js';

t.test("isoTime is Date.prototype.toISOString's text (pino's isoTime)", async (t) => {
  const times = [0, 1, 999, 86_399_999, 951_782_400_000, 1_709_164_800_123, 4_102_444_799_999, Date.now()];
  // every day of four years, leap days included, at a varying time of day
  for (let d = 0; d < 4 * 366; d++) times.push(Date.UTC(2027, 0, 1) + d * 86_400_000 + ((d * 7_919_123) % 86_400_000));
  for (const ms of times) t.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
});
