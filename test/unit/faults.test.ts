import { describe, expect, it } from 'vitest';
import { formatFault, parseFault } from '../../src/sim/faults.js';

describe('parseFault', () => {
  it.each([
    ['up', { mode: 'up' }],
    ['down', { mode: 'down' }],
    ['hang', { mode: 'hang' }],
    ['500', { mode: 'http', status: 500 }],
    ['502', { mode: 'http', status: 502 }],
    ['http:418', { mode: 'http', status: 418 }],
    ['loading', { mode: 'loading' }],
    ['slow:1500', { mode: 'slow', ms: 1500 }],
    ['429', { mode: 'quota', retryAfterS: 60 }],
    ['429:30', { mode: 'quota', retryAfterS: 30 }],
    ['garbage', { mode: 'garbage' }],
    ['cut', { mode: 'cut' }],
    ['hostile', { mode: 'hostile' }],
    ['model-missing', { mode: 'model-missing' }],
  ])('%s', (text, fault) => {
    expect(parseFault(text)).toEqual(fault);
    expect(parseFault(formatFault(parseFault(text)))).toEqual(fault);
  });
  it.each(['', 'sideways', 'slow', 'slow:-1', '429:x', '200'])('rejects %j', (text) => {
    expect(() => parseFault(text)).toThrow(/fault/);
  });
});
