import { en } from 'zod/locales';
import { config } from 'zod/mini';

/**
 * The validator the functions bundle is zod's tree-shakable `zod/mini` build: the same core (the
 * same parsing, the same issues) without the method-chaining classes, so a bundle carries only the
 * parts its schemas use. It loads no locale by itself: English is loaded here, once, so every
 * message names what is wrong exactly as the full build words it ("Invalid input: expected string,
 * received number"). Schema modules import `zod/mini` as a namespace, used by property access only
 * (which is what lets esbuild drop the rest), and import this module for the locale.
 *
 * Never `zod` itself in code the functions bundle: the full build adds about 440 KB to each bundle
 * and some 40 ms to each cold start.
 */
config(en());

/** The issues of a failed parse, whatever the schema. */
export type { $ZodIssue as ValidationIssue } from 'zod/v4/core';
