// graphql-codegen's client preset over the app's documents, against the
// repository's schema.graphql. With `persistedDocuments: true` it writes
// generated/persisted-documents.json: {"sha256:<hex>": "<document>"}, each
// key the SHA-256 of the normalized one-line text beside it. That file is
// what `conduit-gateway documents add` stores, unchanged.
//
// Apollo Client's cache needs `__typename` in every answer (it adds the
// field to what it asks for, but only the id goes to the server, which
// runs the stored text): the preset's transform adds it to the documents
// before they are printed and hashed, as codegen advises for Apollo.
import type { CodegenConfig } from '@graphql-codegen/cli';
import { addTypenameSelectionDocumentTransform } from '@graphql-codegen/client-preset';

const config: CodegenConfig = {
  schema: '../../schema.graphql',
  documents: ['documents/*.graphql'],
  generates: {
    './generated/': {
      preset: 'client',
      presetConfig: {
        persistedDocuments: true,
      },
      documentTransforms: [addTypenameSelectionDocumentTransform],
    },
  },
  silent: true,
};

export default config;
