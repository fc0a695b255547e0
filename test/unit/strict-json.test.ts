import { findDuplicateKey, parseStrictJson } from '../../shared/http/strict-json';

describe('strict JSON', () => {
  it('parses ordinary JSON', () => {
    expect(parseStrictJson('{"a":1,"b":[{"a":2},{"a":3}],"c":{"a":"x"}}')).toEqual({
      a: 1,
      b: [{ a: 2 }, { a: 3 }],
      c: { a: 'x' },
    });
  });

  it.each([
    ['{"a":1,"a":2}', 'a'],
    ['{"x":{"k":1,"k":2}}', 'k'],
    ['[{"k":1},{"k":2,"k":3}]', 'k'],
    ['{"\\u0061":1,"a":2}', 'a'],
    ['{"e\\"":1,"e\\"":2}', 'e"'],
  ])('finds the duplicate key in %s', (text, key) => {
    expect(findDuplicateKey(text)).toBe(key);
    expect(() => parseStrictJson(text)).toThrow(`the key ${JSON.stringify(key)} more than once`);
  });

  it('does not confuse values or nested keys with duplicates', () => {
    expect(findDuplicateKey('{"a":"a","b":{"a":1},"c":["a","a"]}')).toBeUndefined();
    expect(findDuplicateKey('{"a,\\"b":1,"b":2}')).toBeUndefined();
  });

  it('handles deep nesting without recursion', () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    expect(findDuplicateKey(deep)).toBeUndefined();
  });
});
