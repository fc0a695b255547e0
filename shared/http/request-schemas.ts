import { z } from 'zod';
import { CONNECTION_ID_PATTERN } from '../config/schema';

/** No control characters (Unicode category Cc: C0, DEL, C1): they have no business in names, ids or emails. */
const printable = (what: string) =>
  z.string().refine((value) => !/\p{Cc}/u.test(value), `${what} must not contain control characters`);

/** `groupIds` and `groupNames`: at most 50 printable, non-empty strings; duplicates dropped. */
const groupList = (what: string) =>
  z
    .array(
      printable(what).pipe(z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters')),
      {
        error: 'must be an array of strings',
      },
    )
    .max(50, 'must have at most 50 entries')
    .transform((entries) => [...new Set(entries)])
    .optional();

/** `POST /v1/tickets` body (docs/design.md "HTTP API (v1)"). */
export const ticketRequestSchema = z
  .object({
    connection: z
      .string()
      .regex(CONNECTION_ID_PATTERN, 'must be a connection id (lower-case letters, digits, _ and -)')
      .optional(),
    email: z
      .string({ error: 'is required and must be a string' })
      .max(254, 'must be at most 254 characters')
      .pipe(z.email({ error: 'must be a valid email address' }))
      .transform((email) => email.toLowerCase()),
    name: printable('name')
      .pipe(z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters'))
      .optional(),
    groupIds: groupList('a group id'),
    groupNames: groupList('a group name'),
  })
  .strict();

export type TicketRequestBody = z.infer<typeof ticketRequestSchema>;

/** Path parameter `{id}`. */
export const connectionIdSchema = z.string().regex(CONNECTION_ID_PATTERN);

/** One readable line per zod issue: `email: must be a valid email address`. */
export function describeIssues(error: z.ZodError): string {
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
