/** The parsed flags the commands share (types only, plus one accessor). */
export type TargetArgs = { prefix: string; backend: 'auto' | 'nft' | 'legacy' };
/** yargs types the dashed name; with strip-dashed only the camelCase key exists at run time. */
export type SyncArgs = TargetArgs & { explain: boolean; partial: boolean; 'nodeport-range': string };
export const nodeportRangeOf = (a: object): string =>
  String((a as { nodeportRange?: string }).nodeportRange ?? (a as { 'nodeport-range'?: string })['nodeport-range'] ?? '30000-32767');
