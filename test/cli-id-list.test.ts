import { describe, expect, test } from 'vitest';
import { IdList } from '../src/cli/id-set.js';

describe('IdList', () => {
  test('gives back every id at its position, numbered or not, past its first growth', () => {
    const ids = Array.from({ length: 3000 }, (_, i) =>
      i % 7 === 0 ? `doc-${i}` : i % 11 === 0 ? `0${i}` : i === 5 ? '4294967295' : String(i + 1),
    );
    const list = new IdList();
    for (const id of ids) list.push(id);
    expect(list.length).toBe(ids.length);
    expect(Array.from({ length: ids.length }, (_, i) => list.at(i))).toEqual(ids);
    expect(list.at(ids.length)).toBeUndefined();
    expect(list.at(-1)).toBeUndefined();
  });
});
