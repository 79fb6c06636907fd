//! What happens to a request around the schema: persisted queries are
//! looked up, the document parsed (once per distinct text, see
//! `parse_once`), the request given what it runs with (viewer, loaders,
//! `Reads`), and every error of the response given its `extensions.code`.
//!
//! # Implementation notes
//! This is done here rather than as async-graphql extensions on purpose: a
//! schema with any extension runs every field of every response through
//! the extension chain and looks the field up in the registry by name (to
//! build the `ResolveInfo` the chain receives); with none it calls the
//! resolver directly. On the `deep` benchmark (~3,500 objects per response)
//! taking the two extensions off raised throughput by a quarter.

use std::sync::Arc;

use async_graphql::futures_util::StreamExt as _;
use async_graphql::futures_util::future::join_all;
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
};
use async_graphql::{BatchRequest, BatchResponse, Request, Response, ServerError};
use sea_orm::DatabaseConnection;

use super::asked::Asked;
use super::cost::{CostModel, Refusal};
use super::documents::{DocumentCache, sha256};
use super::error::{self, classify_all, with_code};
use super::trusted::{Mode, Trusted, TrustedDocuments, manifest};
use super::validate_once::ValidatedOnce;
use super::variables::InputTypes;
use super::viewer::UserAgent;
use super::{AppSchema, Viewer, batching, bounds, loaders, ordered};
use crate::db::Reads;
use crate::limits::{Budget, Caller, ClientAddress, Outcome};
use crate::metrics::Metrics;

/// What one HTTP request's operations run with.
pub struct Scope {
    /// The pool: `Reads` decides how the operations use it.
    pub db: DatabaseConnection,
    /// A query's SQLite reads straight from the file (`db::Direct`).
    pub direct: Option<Arc<crate::db::Direct>>,
    pub metrics: Arc<Metrics>,
    pub viewer: Viewer,
    pub user_agent: UserAgent,
    /// Where the request came from: whose budget an anonymous request
    /// spends, and what the resolvers see as `ClientAddress`.
    pub client: ClientAddress,
}

/// The answers to one HTTP request, and what it spent of its caller's
/// budget (`None` when there is no budget).
pub struct Executed {
    pub responses: BatchResponse,
    pub spent: Option<Outcome>,
}

/// What any request may ask for, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// Tokens in one document (`bounds`).
    pub max_tokens: usize,
    /// The cost of a request, a batch's operations together (`cost`).
    pub max_cost: u64,
    /// Operations in one batch.
    pub max_batch: usize,
}

/// The schema and what stands before it: bounds, the parse cache, costing.
#[derive(Clone)]
pub struct Pipeline {
    pub schema: AppSchema,
    /// The schema for stored documents validated once already.
    fast_schema: AppSchema,
    pub documents: DocumentCache,
    /// The stored documents, and whether only they may run.
    pub trusted: Arc<TrustedDocuments>,
    cost: Arc<CostModel>,
    /// The input types, for checking a stored document's variables.
    inputs: Arc<InputTypes>,
    pub limits: RequestLimits,
    /// What each caller may spend per minute (`limits`); `None`: no budget.
    budget: Option<Arc<Budget>>,
}

/// Requests looked up, parsed and costed, not yet run: what the HTTP layer
/// checks (a mutation by GET) before running them, so that nothing is
/// hashed, looked up or parsed twice.
pub struct PreparedBatch {
    /// Whether the client sent one request rather than an array.
    single: bool,
    /// Each request ready to run, or its whole answer.
    entries: Vec<Result<Prepared, ServerError>>,
    /// Whether any request's chosen operation is a mutation (told before
    /// costing, which may refuse it for another reason).
    has_mutation: bool,
    /// Set when the batch as a whole is refused (too many operations).
    refused: Option<ServerError>,
}

impl PreparedBatch {
    /// Whether any of the requests would run a mutation. A document that
    /// was refused before parsing (not stored, unknown hash, past the
    /// bounds) counts as none: its answer says why.
    pub fn has_mutation(&self) -> bool {
        self.has_mutation
    }
}

/// A request ready to run, and what to keep once it validated.
struct Prepared {
    request: Request,
    /// The SHA-256 of the document's text, however the client named it
    /// (text, APQ hash, stored id): what tells two requests' documents
    /// apart.
    hash: String,
    /// A document parsed for this request, to keep in the cache when it
    /// passes validation.
    parsed: Option<(String, ExecutableDocument)>,
    /// What running it costs (`cost`), computed with the parse.
    cost: u64,
    /// A stored document's one-time validation (`validate_once`): `None`
    /// for every other document.
    stored: Option<ValidatedOnce>,
}

impl Pipeline {
    /// `schema` validates in full, `fast_schema` (the same schema in
    /// async-graphql's `Fast` validation mode) runs stored documents that
    /// passed once (see `validate_once`).
    pub fn new(
        schema: AppSchema,
        fast_schema: AppSchema,
        documents: DocumentCache,
        trusted: Arc<TrustedDocuments>,
        limits: RequestLimits,
    ) -> Self {
        let sdl = schema.sdl();
        let cost = Arc::new(CostModel::from_sdl(&sdl));
        let inputs = Arc::new(InputTypes::from_sdl(&sdl));
        Self {
            fast_schema,
            inputs,
            schema,
            documents,
            trusted,
            cost,
            limits,
            budget: None,
        }
    }

    /// The same pipeline, charging every request to its caller's budget.
    pub fn with_budget(self, budget: Option<Arc<Budget>>) -> Self {
        Self { budget, ..self }
    }

    /// Runs one request, or a batch of them side by side: `prepare_batch`,
    /// then `execute_prepared`.
    pub async fn execute_batch(&self, batch: BatchRequest, scope: Scope) -> Executed {
        self.execute_prepared(self.prepare_batch(batch), scope)
            .await
    }

    /// Looks up and parses the requests' documents and costs them
    /// together: a batch may spend what one request may, no more.
    pub fn prepare_batch(&self, batch: BatchRequest) -> PreparedBatch {
        let (single, requests) = match batch {
            BatchRequest::Single(request) => (true, vec![request]),
            BatchRequest::Batch(requests) => (false, requests),
        };
        if requests.len() > self.limits.max_batch {
            let refusal = with_code(
                ServerError::new(
                    format!(
                        "a batch holds at most {} operations; this one has {}",
                        self.limits.max_batch,
                        requests.len()
                    ),
                    None,
                ),
                error::GRAPHQL_VALIDATION_FAILED,
            );
            return PreparedBatch {
                single: true,
                entries: Vec::new(),
                has_mutation: false,
                refused: Some(refusal),
            };
        }
        let mut prepared: Vec<_> = requests
            .into_iter()
            .map(|request| self.prepare(request))
            .collect();
        let has_mutation = prepared.iter_mut().any(|entry| {
            entry
                .as_mut()
                .is_ok_and(|prepared| prepared.operation_type() == Some(OperationType::Mutation))
        });
        if let Err(refusal) = self.check_cost(&prepared) {
            for entry in &mut prepared {
                if entry.is_ok() {
                    *entry = Err(refusal.clone());
                }
            }
        }
        PreparedBatch {
            single,
            entries: prepared,
            has_mutation,
            refused: None,
        }
    }

    /// Charges the prepared requests to their caller's budget, before any
    /// of them runs (over budget, none does), then runs them side by side,
    /// with their DataLoader batches driven (see `batching`). When every
    /// one is a query, all their reads share one connection
    /// (`Reads::for_query`; see there why mutations may not).
    pub async fn execute_prepared(&self, batch: PreparedBatch, scope: Scope) -> Executed {
        let caller = Caller::new(scope.viewer.id().ok().flatten(), scope.client);
        let PreparedBatch {
            single,
            entries: mut prepared,
            refused,
            ..
        } = batch;
        if let Some(refusal) = refused {
            let spent = self.spend(&caller, &[]).await;
            let refusal = spent
                .as_ref()
                .and_then(|spent| over_budget(spent, 0))
                .unwrap_or(refusal);
            return Executed {
                responses: BatchResponse::Single(Response::from_errors(vec![refusal])),
                spent,
            };
        }
        if let Viewer::Refused(why) = scope.viewer {
            refuse_unless_signing_in(&mut prepared, why);
        }
        let spent = self.spend(&caller, &prepared).await;
        let cost = total_cost(&prepared);
        if let Some(refusal) = spent.as_ref().and_then(|spent| over_budget(spent, cost)) {
            for entry in &mut prepared {
                *entry = Err(refusal.clone());
            }
        }
        let only_queries = prepared.iter_mut().all(|prepared| match prepared {
            Ok(prepared) => prepared.operation_type() == Some(OperationType::Query),
            Err(_) => true,
        });
        let reads = if only_queries {
            Reads::for_query(scope.db, scope.metrics, scope.direct)
        } else {
            Reads::pooled(scope.db)
        };
        let (loaders, batches) =
            loaders::for_request(reads.clone(), scope.viewer.id().ok().flatten());
        let runs = prepared.into_iter().map(|prepared| {
            let prepared = prepared.map(|mut prepared| {
                prepared.request = prepared
                    .request
                    .data(scope.viewer)
                    .data(scope.user_agent.clone())
                    .data(scope.client)
                    .data(loaders.clone())
                    .data(Asked::default())
                    .data(reads.clone());
                prepared
            });
            self.run(prepared)
        });
        let mut responses = batching::drive(join_all(runs), batches).await;
        let responses = if single {
            BatchResponse::Single(responses.remove(0))
        } else {
            BatchResponse::Batch(responses)
        };
        Executed { responses, spent }
    }

    /// Charges what the requests that are ready to run cost to `caller`'s
    /// budget (see `Budget::charge`).
    async fn spend(
        &self,
        caller: &Caller,
        prepared: &[Result<Prepared, ServerError>],
    ) -> Option<Outcome> {
        let budget = self.budget.as_ref()?;
        Some(budget.charge(caller, total_cost(prepared)).await)
    }

    /// A subscription (or any operation sent over a WebSocket) looked up,
    /// parsed, costed and charged to `caller`'s budget, before it starts:
    /// ready to run, or the answer that refuses it.
    pub async fn prepare_stream(
        &self,
        request: Request,
        caller: Caller,
    ) -> Result<PreparedStream, Response> {
        let mut prepared = vec![self.prepare(request)];
        if let Err(refusal) = self.check_cost(&prepared) {
            prepared[0] = Err(refusal);
        }
        let cost = total_cost(&prepared);
        let spent = self.spend(&caller, &prepared).await;
        if let Some(refusal) = spent.as_ref().and_then(|spent| over_budget(spent, cost)) {
            prepared[0] = Err(refusal);
        }
        match prepared.remove(0) {
            Ok(prepared) => Ok(PreparedStream {
                prepared,
                pipeline: self.clone(),
            }),
            Err(refusal) => Err(Response::from_errors(vec![refusal])),
        }
    }

    async fn run(&self, prepared: Result<Prepared, ServerError>) -> Response {
        let mut response = match prepared {
            Ok(Prepared {
                mut request,
                parsed,
                stored,
                ..
            }) => {
                let root_keys = root_keys(&mut request);
                let validated_before = stored.as_ref().is_some_and(ValidatedOnce::is_done);
                let schema = if validated_before {
                    &self.fast_schema
                } else {
                    &self.schema
                };
                let mut response = schema.execute(request).await;
                if let Some(keys) = root_keys {
                    ordered::root_in_order(&mut response.data, &keys);
                }
                classify_all(&mut response);
                if validated(&response) {
                    if let Some((hash, document)) = parsed {
                        self.documents.insert(hash, document);
                    }
                    if let Some(stored) = stored {
                        stored.done();
                    }
                }
                return response;
            }
            Err(refusal) => Response::from_errors(vec![refusal]),
        };
        classify_all(&mut response);
        response
    }

    /// Sums the cost of every request that is ready to run; past the limit,
    /// none of them runs.
    ///
    /// With a budget smaller than that limit, the budget is the limit: a
    /// request that costs more than a whole minute's budget could never run.
    fn check_cost(&self, prepared: &[Result<Prepared, ServerError>]) -> Result<(), ServerError> {
        let limit = self.limits.max_cost;
        let total = total_cost(prepared);
        if let Some(budget) = &self.budget
            && total > budget.per_minute()
            && budget.per_minute() < limit
        {
            return Err(with_code(
                ServerError::new(
                    format!(
                        "the request costs {total}, more than the whole query budget of {} per minute",
                        budget.per_minute()
                    ),
                    None,
                ),
                error::GRAPHQL_VALIDATION_FAILED,
            ));
        }
        if total > limit {
            let what = if prepared.len() > 1 {
                "the batch"
            } else {
                "the query"
            };
            let shown = if total == u64::MAX {
                "more than anyone may spend".to_owned()
            } else {
                total.to_string()
            };
            return Err(with_code(
                ServerError::new(
                    format!(
                        "{what} costs {shown}; at most {limit} (each field 1, text by its longest value, a page times its size, an id list times its length, a password hash 5,000)"
                    ),
                    None,
                ),
                error::GRAPHQL_VALIDATION_FAILED,
            ));
        }
        Ok(())
    }

    /// What running `request` with `document` costs.
    fn cost_of(
        &self,
        request: &Request,
        document: &ExecutableDocument,
    ) -> Result<u64, ServerError> {
        self.cost
            .cost(
                document,
                request.operation_name.as_deref(),
                &request.variables,
                self.limits.max_cost,
            )
            .map_err(|Refusal::TooDeep| {
                with_code(
                    ServerError::new("fragments spread within fragments too deep", None),
                    error::GRAPHQL_VALIDATION_FAILED,
                )
            })
    }

    /// A request whose document came from the cache.
    fn cached(
        &self,
        mut request: Request,
        document: &ExecutableDocument,
        hash: String,
    ) -> Result<Prepared, ServerError> {
        let cost = self.cost_of(&request, document)?;
        request.set_parsed_query(document.clone());
        Ok(Prepared {
            request,
            hash,
            parsed: None,
            cost,
            stored: None,
        })
    }

    /// A request for a stored document: parsed when it was loaded, and
    /// validated by its first request (`validate_once`); later ones check
    /// only their variables.
    ///
    /// Only a document of one operation: validation (and the cache hints it
    /// gathers) is of the operation a request names, so a document of
    /// several is validated per request as any other.
    fn stored(
        &self,
        request: Request,
        trusted: &Trusted,
        hash: String,
    ) -> Result<Prepared, ServerError> {
        trusted.used();
        let single = match &trusted.document.operations {
            DocumentOperations::Single(_) => true,
            DocumentOperations::Multiple(operations) => operations.len() == 1,
        };
        if !single {
            return self.cached(request, &trusted.document, hash);
        }
        if trusted.validation.is_done()
            && let Some(operation) =
                chosen_operation(&trusted.document, request.operation_name.as_deref())
        {
            self.inputs.check(operation, &request.variables)?;
        }
        let mut prepared = self.cached(request, &trusted.document, hash)?;
        prepared.stored = Some(trusted.validation.clone());
        Ok(prepared)
    }

    /// The request with its document parsed: a stored (trusted) document
    /// by id or by its text, else (unless only trusted documents may run)
    /// the parse cache by hash when the client sent only one (Apollo's
    /// `extensions.persistedQuery`, version 1, which the HTTP layer also
    /// makes of `documentId` and `doc_id`), or the text. An `Err` is the
    /// whole answer.
    fn prepare(&self, mut request: Request) -> Result<Prepared, ServerError> {
        if let Some(extension) = request.extensions.remove("persistedQuery") {
            let (version, hash) = persisted_query(&extension).ok_or_else(|| {
                with_code(
                    ServerError::new(
                        "extensions.persistedQuery must be { version: 1, sha256Hash: String }",
                        None,
                    ),
                    error::BAD_USER_INPUT,
                )
            })?;
            if version != 1 {
                return Err(with_code(
                    ServerError::new(
                        format!("persisted query version {version} is not supported; use 1"),
                        None,
                    ),
                    error::BAD_USER_INPUT,
                ));
            }
            let hash = manifest::normalize_id(&hash);
            if request.query.is_empty() {
                bounds::check_variables(&request.variables)?;
                if let Some(trusted) = self.trusted.get(&hash) {
                    return self.stored(request, &trusted, hash);
                }
                if self.trusted.mode == Mode::Only {
                    return Err(not_in_list());
                }
                let document = self.documents.get(&hash).ok_or_else(|| {
                    with_code(
                        ServerError::new("PersistedQueryNotFound", None),
                        error::PERSISTED_QUERY_NOT_FOUND,
                    )
                })?;
                return self.cached(request, &document, hash);
            }
            if sha256(&request.query) != hash {
                return Err(with_code(
                    ServerError::new("provided sha does not match query", None),
                    error::BAD_USER_INPUT,
                ));
            }
            return self.by_text(request, hash);
        }
        let hash = sha256(&request.query);
        self.by_text(request, hash)
    }

    /// A request that sent its document's text, whose SHA-256 is `hash`: a
    /// stored document's text runs as the stored document; any other only
    /// when every document may.
    fn by_text(&self, request: Request, hash: String) -> Result<Prepared, ServerError> {
        if let Some(trusted) = self.trusted.get(&hash) {
            bounds::check_variables(&request.variables)?;
            return self.stored(request, &trusted, hash);
        }
        if self.trusted.mode == Mode::Only {
            return Err(not_in_list());
        }
        self.parse_once(request, hash)
    }

    /// Takes the document parsed the last time the same text came, or
    /// checks the text against the bounds and parses it.
    ///
    /// # Implementation notes
    /// Clients send the same few documents over and over, and parsing one (a
    /// pest grammar) took 6 % of the server's CPU on the token homepage; a
    /// SHA-256 and a clone of the cached tree cost a fraction of that. A
    /// text sent in full is thereby also known by its hash alone afterwards,
    /// which is what a persisted-query client would register anyway.
    fn parse_once(&self, mut request: Request, hash: String) -> Result<Prepared, ServerError> {
        bounds::check_variables(&request.variables)?;
        if let Some(document) = self.documents.get(&hash) {
            return self.cached(request, &document, hash);
        }
        bounds::check_text(&request.query, self.limits.max_tokens)?;
        if let Err(error) = request.parsed_query() {
            return Err(error::parse_failed(error, &request.query));
        }
        let document = request.parsed_query()?.clone();
        let cost = self.cost_of(&request, &document)?;
        Ok(Prepared {
            request,
            hash: hash.clone(),
            parsed: Some((hash, document)),
            cost,
            stored: None,
        })
    }
}

impl Prepared {
    /// The type of the operation the request runs (its document is parsed
    /// by now, so this reads it).
    fn operation_type(&mut self) -> Option<OperationType> {
        let name = self.request.operation_name.clone();
        let document = self.request.parsed_query().ok()?;
        operation_type(document, name.as_deref())
    }
}

/// A request sent over a WebSocket, ready to run (`Pipeline::prepare_stream`).
pub struct PreparedStream {
    prepared: Prepared,
    pipeline: Pipeline,
}

impl PreparedStream {
    /// Whether it runs a subscription (rather than a query or mutation).
    pub fn is_subscription(&mut self) -> bool {
        self.prepared.operation_type() == Some(OperationType::Subscription)
    }

    /// The SHA-256 of its document's text.
    pub fn document_hash(&self) -> &str {
        &self.prepared.hash
    }

    pub fn operation_name(&self) -> Option<&str> {
        self.prepared.request.operation_name.as_deref()
    }

    pub fn variables(&self) -> &async_graphql::Variables {
        &self.prepared.request.variables
    }

    /// The same request with `value` among what its resolvers can reach.
    pub fn data<D: std::any::Any + Send + Sync>(mut self, value: D) -> Self {
        self.prepared.request.data.insert(value);
        self
    }

    /// Runs it: its responses, each with its errors' codes; a document
    /// parsed for it is kept once it passes validation.
    pub fn run(self) -> BoxStream<'static, Response> {
        let Prepared {
            request, parsed, ..
        } = self.prepared;
        let documents = self.pipeline.documents.clone();
        let mut parsed = parsed;
        self.pipeline
            .schema
            .execute_stream(request)
            .map(move |mut response| {
                classify_all(&mut response);
                if let Some((hash, document)) = parsed.take()
                    && validated(&response)
                {
                    documents.insert(hash, document);
                }
                response
            })
            .boxed()
    }
}

/// The answer to a document that is not stored, when only stored ones run.
fn not_in_list() -> ServerError {
    with_code(
        ServerError::new(
            "only registered documents run on this server (PersistedQueryNotInList)",
            None,
        ),
        error::PERSISTED_QUERY_NOT_IN_LIST,
    )
}

/// What the requests that are ready to run cost together.
fn total_cost(prepared: &[Result<Prepared, ServerError>]) -> u64 {
    prepared
        .iter()
        .filter_map(|entry| entry.as_ref().ok())
        .fold(0u64, |total, prepared| total.saturating_add(prepared.cost))
}

/// The answer to a request that costs `cost` and was over its caller's
/// budget, if it was.
fn over_budget(spent: &Outcome, cost: u64) -> Option<ServerError> {
    let seconds = spent.retry_after_secs()?;
    Some(error::rate_limited(
        format!(
            "over the query budget: {} left, this request costs {}; retry after {seconds} s",
            spent.remaining(),
            cost.max(1)
        ),
        seconds,
    ))
}

/// The root fields a client holding a refused token may still ask for:
/// the ones that get it a new token.
const SIGNING_IN: [&str; 6] = [
    "signUp",
    "signIn",
    "refreshSession",
    "requestPasswordReset",
    "resetPassword",
    "__typename",
];

/// A request that sent a bad, tampered or expired token hears so, whatever
/// it asks (a client must not take a stale session's public answers for
/// its own), unless every root field it asks for is one of `SIGNING_IN`.
/// Decided on the parsed document alone: no database read.
fn refuse_unless_signing_in(
    prepared: &mut [Result<Prepared, ServerError>],
    why: crate::auth::token::TokenError,
) {
    for entry in prepared.iter_mut() {
        let Ok(Prepared { request, .. }) = entry else {
            continue;
        };
        let operation_name = request.operation_name.clone();
        let signing_in = request.parsed_query().ok().is_some_and(|document| {
            root_fields(document, operation_name.as_deref())
                .is_some_and(|fields| fields.iter().all(|field| SIGNING_IN.contains(field)))
        });
        if !signing_in {
            *entry = Err(with_code(
                ServerError::new(why.to_string(), None),
                error::UNAUTHENTICATED,
            ));
        }
    }
}

/// The names of the fields at the root of the chosen operation, through
/// fragments. `None` when the document has no such operation.
fn root_fields<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<Vec<&'a str>> {
    use async_graphql::parser::types::Selection;
    let operation = chosen_operation(document, operation_name)?;
    let mut fields = Vec::new();
    let mut sets = vec![&operation.selection_set.node];
    // Fragments at the root are flat lists of the same fields; a spread
    // cycle (refused by validation) is cut by the visit count.
    let mut visits = 0;
    while let Some(set) = sets.pop() {
        visits += 1;
        if visits > 1_000 {
            break;
        }
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => fields.push(field.node.name.node.as_str()),
                Selection::InlineFragment(inline) => sets.push(&inline.node.selection_set.node),
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node)
                    {
                        sets.push(&fragment.node.selection_set.node);
                    }
                }
            }
        }
    }
    Some(fields)
}

/// Whether a response got past validation, so its document may be kept:
/// refusals before execution have no path and the codes below.
fn validated(response: &Response) -> bool {
    !response.errors.iter().any(|error| {
        error.path.is_empty()
            && error
                .extensions
                .as_ref()
                .and_then(|extensions| extensions.get("code"))
                .is_some_and(|code| {
                    *code == async_graphql::Value::from(error::GRAPHQL_VALIDATION_FAILED)
                        || *code == async_graphql::Value::from(error::GRAPHQL_PARSE_FAILED)
                })
    })
}

/// The type of the operation `document` runs for `operation_name` (the one
/// it names, or else the first), when the document has it.
pub(crate) fn operation_type(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<OperationType> {
    chosen_operation(document, operation_name).map(|operation| operation.ty)
}

/// The root fields' response keys of the operation `request` runs, in
/// selection order (`ordered::root_keys`).
/// `None` when there is nothing to put in order: one field at the root.
fn root_keys(request: &mut Request) -> Option<Vec<async_graphql::Name>> {
    use async_graphql::parser::types::Selection;
    // Moved out and back rather than cloned (`parsed_query` borrows the
    // whole request): this runs for every request.
    let variables = std::mem::take(&mut request.variables);
    let operation_name = request.operation_name.take();
    let keys = request.parsed_query().ok().and_then(|document| {
        let operation = chosen_operation(document, operation_name.as_deref())?;
        let set = &operation.selection_set.node;
        if let [only] = &set.items[..]
            && matches!(only.node, Selection::Field(_))
        {
            return None;
        }
        Some(ordered::root_keys(document, set, &variables))
    });
    request.variables = variables;
    request.operation_name = operation_name;
    keys
}

/// The operation `document` runs for `operation_name`: the one it names,
/// or else the first.
fn chosen_operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    let chosen = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) => operations.values().next(),
    };
    chosen.map(|operation| &operation.node)
}

fn persisted_query(extension: &async_graphql::Value) -> Option<(i64, String)> {
    let async_graphql::Value::Object(fields) = extension else {
        return None;
    };
    let version = match fields.get("version")? {
        async_graphql::Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    Some((version, persisted_hash(extension)?.to_owned()))
}

/// The `sha256Hash` of an `extensions.persistedQuery` value.
pub(crate) fn persisted_hash(extension: &async_graphql::Value) -> Option<&str> {
    let async_graphql::Value::Object(fields) = extension else {
        return None;
    };
    match fields.get("sha256Hash")? {
        async_graphql::Value::String(hash) => Some(hash),
        _ => None,
    }
}
