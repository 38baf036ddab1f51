/**
 * Error classes of @hierglow/flow-layers. Each carries a `_tag` so `isInstance` checks work even
 * when two copies of the package are installed (instanceof would not).
 */
export class HierglowError extends Error {
  readonly _tag: string = 'HierglowError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
  static isInstance(e: unknown): e is HierglowError {
    return (
      typeof e === 'object' && e !== null && typeof (e as { _tag?: unknown })._tag === 'string'
    );
  }
}

// The declared return type keeps the .d.ts from spelling out Error's static members (which
// name the NodeJS namespace of @types/node) for every tagged class.
function tagged<T extends string>(tag: T): typeof HierglowError {
  return class extends HierglowError {
    override readonly _tag: string = tag;
    static override isInstance(e: unknown): e is HierglowError {
      return typeof e === 'object' && e !== null && (e as { _tag?: unknown })._tag === tag;
    }
  };
}

/** A tensor of the wrong rank or shape was passed to a bijector or op. */
export class ShapeError extends tagged('ShapeError') {}
/** `inverse` was called on a bijector that has no inverse. */
export class NotInvertibleError extends tagged('NotInvertibleError') {}
/** A configuration value is out of range or inconsistent. */
export class ConfigError extends tagged('ConfigError') {}
