import { HierglowError } from '@hierglow/flow-layers';

/** An optional backend package is missing or failed to initialise. */
export class BackendUnavailableError extends HierglowError {
  override readonly _tag: string = 'BackendUnavailableError';
  static override isInstance(e: unknown): e is BackendUnavailableError {
    return (
      typeof e === 'object' &&
      e !== null &&
      (e as { _tag?: unknown })._tag === 'BackendUnavailableError'
    );
  }
}
