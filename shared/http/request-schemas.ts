import * as z from 'zod/mini';
import { CONNECTION_ID_PATTERN } from '../config/schema';
import type { ValidationIssue } from '../validation';
import '../validation';

/** No control characters (Unicode category Cc: C0, DEL, C1): they have no business in names, ids or emails. */
const printable = (what: string) =>
  z
    .string()
    .check(z.refine((value) => !/\p{Cc}/u.test(value), `${what} must not contain control characters`));

/** A non-empty printable string of at most `max` characters. */
const printableText = (what: string, max: number) =>
  z.pipe(
    printable(what),
    z
      .string()
      .check(z.minLength(1, 'must not be empty'), z.maxLength(max, `must be at most ${max} characters`)),
  );

/** `groupIds` and `groupNames`: at most 50 printable, non-empty strings; duplicates dropped. */
const groupList = (what: string) =>
  z.optional(
    z.pipe(
      z
        .array(printableText(what, 128), { error: 'must be an array of strings' })
        .check(z.maxLength(50, 'must have at most 50 entries')),
      z.transform((entries: string[]) => [...new Set(entries)]),
    ),
  );

/** `POST /v1/tickets` body (docs/design.md "HTTP API (v1)"). */
export const ticketRequestSchema = z.strictObject({
  connection: z.optional(
    z
      .string()
      .check(z.regex(CONNECTION_ID_PATTERN, 'must be a connection id (lower-case letters, digits, _ and -)')),
  ),
  email: z.pipe(
    z.pipe(
      z
        .string({ error: 'is required and must be a string' })
        .check(z.maxLength(254, 'must be at most 254 characters')),
      z.email({ error: 'must be a valid email address' }),
    ),
    z.transform((email: string) => email.toLowerCase()),
  ),
  name: z.optional(printableText('name', 200)),
  groupIds: groupList('a group id'),
  groupNames: groupList('a group name'),
});

export type TicketRequestBody = z.infer<typeof ticketRequestSchema>;

/** Path parameter `{id}`. */
export const connectionIdSchema = z.string().check(z.regex(CONNECTION_ID_PATTERN));

/** One readable line per issue: `email: must be a valid email address`. */
export function describeIssues(error: { readonly issues: readonly ValidationIssue[] }): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
      if (issue.code === 'unrecognized_keys') {
        return `${path}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys
          .slice(0, 5)
          .map((key) => JSON.stringify(key.slice(0, 64)))
          .join(', ')}`;
      }
      if (issue.code === 'invalid_type' && issue.path.length === 0) return 'body must be a JSON object';
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}
