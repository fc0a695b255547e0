import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { type Fault, type FaultController, parseControlInput } from './faults';
import { HttpError, parseJson, readBody, sendJson, sendNoContent } from './http-kit';

/**
 * The simulators' control API over HTTP, under `/__sim/`, so that another process (a benchmark, a
 * test driving `npm start`) can steer a simulator it did not start:
 *
 * | request | effect |
 * | --- | --- |
 * | `GET /__sim/counts` | requests per endpoint, JSON |
 * | `POST /__sim/counts/reset` | zero the counters (and the in-flight peaks) |
 * | `GET /__sim/in-flight` | requests open now and the most open at once, per endpoint: `{current, peak}` |
 * | `GET /__sim/faults` | faults in force |
 * | `PUT /__sim/faults/{endpoint or *}` | set a fault (JSON {@link Fault}) |
 * | `DELETE /__sim/faults` (or `/__sim/faults/{endpoint}`) | clear all faults (or one) |
 * | `POST /__sim/revoke` | revoke every token |
 * | `POST /__sim/rotate` | JSON `{"clientId","clientSecret"}`: rotate a client secret |
 *
 * Actions answer 204; bad input 400; an unknown endpoint or client 404. Control requests are
 * neither counted nor faulted.
 */
export const CONTROL_PREFIX = '/__sim/';

/** Thrown by `rotateClientSecret` for a client the simulator does not know. */
export class UnknownClientError extends Error {
  constructor(clientId: string) {
    super(`unknown client "${clientId}"`);
    this.name = 'UnknownClientError';
  }
}

/** Extra control routes of one simulator, keyed `"METHOD /__sim/path"`. */
export type ControlRoutes = Record<
  string,
  (req: IncomingMessage, res: ServerResponse) => Promise<void> | void
>;

/** What a simulator hands to {@link handleSimControl}. */
export interface SimControl<E extends string> {
  readonly faults: FaultController<E>;
  counts(): Record<E, number>;
  inFlight(): { current: Record<E, number>; peak: Record<E, number> };
  resetCounts(): void;
  revokeAllTokens(): void;
  rotateClientSecret(clientId: string, newSecret: string): void;
  readonly extra?: ControlRoutes;
}

const rotationSchema = z.object({ clientId: z.string(), clientSecret: z.string().min(1) }).strict();

/** Reads a JSON control body and validates it with `schema`, or answers 400 naming what is wrong. */
export async function readControlBody<T>(
  req: IncomingMessage,
  schema: z.ZodType<T>,
  what: string,
): Promise<T> {
  const value = parseJson(await readBody(req, 64 * 1024));
  try {
    return parseControlInput(schema, value, what);
  } catch (error) {
    throw new HttpError(400, (error as Error).message);
  }
}

/** Handles a control request; returns false when `pathname` is not under `/__sim/`. */
export async function handleSimControl<E extends string>(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  control: SimControl<E>,
): Promise<boolean> {
  if (!pathname.startsWith(CONTROL_PREFIX)) return false;
  const method = req.method ?? 'GET';
  const extra = control.extra?.[`${method} ${pathname}`];
  if (extra) {
    await extra(req, res);
    return true;
  }
  if (pathname === '/__sim/counts' && method === 'GET') {
    sendJson(res, 200, control.counts());
    return true;
  }
  if (pathname === '/__sim/in-flight' && method === 'GET') {
    sendJson(res, 200, control.inFlight());
    return true;
  }
  if (pathname === '/__sim/counts/reset' && method === 'POST') {
    control.resetCounts();
    sendNoContent(res);
    return true;
  }
  if (pathname === '/__sim/faults' && method === 'GET') {
    sendJson(res, 200, control.faults.list());
    return true;
  }
  if (pathname === '/__sim/faults' && method === 'DELETE') {
    control.faults.clear();
    sendNoContent(res);
    return true;
  }
  if (pathname.startsWith('/__sim/faults/') && (method === 'PUT' || method === 'DELETE')) {
    const endpoint = decodeURIComponent(pathname.slice('/__sim/faults/'.length)) as E | '*';
    if (endpoint !== '*' && !control.faults.endpoints.includes(endpoint)) {
      throw new HttpError(
        404,
        `unknown endpoint "${endpoint}" (known: ${control.faults.endpoints.join(', ')}, *)`,
      );
    }
    if (method === 'DELETE') {
      control.faults.clear(endpoint);
    } else {
      const body: unknown = parseJson(await readBody(req, 64 * 1024));
      try {
        control.faults.set(endpoint, body as Fault);
      } catch (error) {
        throw new HttpError(400, (error as Error).message);
      }
    }
    sendNoContent(res);
    return true;
  }
  if (pathname === '/__sim/revoke' && method === 'POST') {
    control.revokeAllTokens();
    sendNoContent(res);
    return true;
  }
  if (pathname === '/__sim/rotate' && method === 'POST') {
    const { clientId, clientSecret } = await readControlBody(req, rotationSchema, 'rotation');
    try {
      control.rotateClientSecret(clientId, clientSecret);
    } catch (error) {
      if (error instanceof UnknownClientError) throw new HttpError(404, error.message);
      throw error;
    }
    sendNoContent(res);
    return true;
  }
  throw new HttpError(404, `no control route ${method} ${pathname}`);
}
