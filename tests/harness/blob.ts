/** scripts/slim-blob.mjs's parser of a Node 20 startup snapshot blob, typed for the tests. */
// @ts-expect-error plain JS without type declarations (build-snapshot.mjs runs it)
import { parseBlob as parseBlobJs } from '../../scripts/slim-blob.mjs';

export interface BlobLayout {
  nodeVersion: string;
  /** the builtins the snapshot's main realm has loaded */
  loaded: string[];
  codeCacheAt: number;
  /** its code cache entries: builtin id and byte range [start, end) in the blob */
  entries: { id: string; start: number; end: number }[];
}

export const parseBlob = parseBlobJs as (b: Buffer) => BlobLayout;
