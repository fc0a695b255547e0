/**
 * A stack or construct was given props it cannot build (e.g. two connections sharing one secret
 * name). The app reports it as one line, like a configuration error.
 */
export class InvalidPropsError extends Error {
  override readonly name = 'InvalidPropsError';
}
