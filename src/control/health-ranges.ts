// Health-check ranges and defaults, with no imports: schemas.ts validates with them, and the CLI's help
// (quicsteer probe --timeout) reads them at startup without loading zod.

/** Health-check ranges and defaults (as cloud QUIC listeners offer them): the director's checks, the agent's, and quicsteer probe's timeout. */
export const HEALTH = {
  timeout: { min: 2, max: 60, default: 2 },
  interval: { min: 5, max: 300, default: 5 },
  unhealthyThreshold: { min: 2, max: 10, default: 3 },
  healthyThreshold: { min: 2, max: 10, default: 3 },
} as const;
