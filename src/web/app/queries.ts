// The GraphQL documents the page sends (HTTP for queries and mutations, graphql-ws for the
// subscriptions).
const JOB_FIELDS = "id status templateId outputUrl renderMs error createdAt sendToStatus sendToError";

export const VIEWER = `query Viewer {
  viewer { organization { name balanceCents status prices { standardCents largeCents largeAboveMegapixels backgroundRemovalCents } } }
}`;

export const JOBS = `query Jobs { jobs(first: 8) { edges { node { ${JOB_FIELDS} } } } }`;

export const CREATE_RENDER = `mutation CreateRender($input: CreateRenderInput!) {
  createRender(input: $input) {
    __typename
    ... on Job { ${JOB_FIELDS} }
    ... on ValidationError { fields { path message } }
    ... on Error { message }
  }
}`;

export const JOB_STATUS = `subscription JobStatus($id: ID!) { jobStatus(jobId: $id) { ${JOB_FIELDS} } }`;
export const JOB_UPDATES = `subscription JobUpdates { jobUpdates { ${JOB_FIELDS} } }`;
