/** A request body that is not JSON, or JSON with a repeated key; the message says which. */
export class JsonBodyError extends Error {
  override readonly name = 'JsonBodyError';
}

/**
 * `JSON.parse` that also refuses duplicate object keys. `JSON.parse` silently keeps the last one,
 * so `{"email":"a@allowed.com","email":"b@other.com"}` could be read one way by a check and
 * another way by a later consumer; refusing it removes the ambiguity.
 *
 * @throws JsonBodyError when the text is not JSON or repeats a key within one object
 * @see https://www.rfc-editor.org/rfc/rfc8259#section-4 (names SHOULD be unique)
 */
export function parseStrictJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new JsonBodyError(`body is not valid JSON (${(error as Error).message})`);
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined)
    throw new JsonBodyError(`body has the key ${JSON.stringify(duplicate)} more than once`);
  return value;
}

/**
 * Scans text already known to be valid JSON and returns the first key repeated within one
 * object. Iterative (no recursion), so deep nesting cannot overflow the stack.
 */
export function findDuplicateKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (char === '[') {
      stack.push(null);
      expectKey = false;
    } else if (char === '}' || char === ']') {
      stack.pop();
      expectKey = false;
    } else if (char === ',') {
      expectKey = stack.at(-1) instanceof Set;
    } else if (char === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        const keys = stack.at(-1);
        if (keys?.has(key)) return key;
        keys?.add(key);
        expectKey = false;
      }
      i = end;
    }
  }
  return undefined;
}
