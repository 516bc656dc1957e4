/**
 * The one error a parser throws for input it cannot read. Every rejection must be a ParseError with a
 * sentence a person can act on (what was expected, where, and what to capture instead); any other
 * exception escaping a parser is a bug (property tests enforce this).
 */
export class ParseError extends Error {
  override readonly name = 'ParseError'
  constructor(
    message: string,
    /** 1-based line in the input, when known. */
    readonly line?: number,
    /** What to do about it, e.g. "capture it with `ip -d -j link show`". */
    readonly hint?: string,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`)
  }
}
