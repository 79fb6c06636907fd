//! Validating a stored document once per process instead of once per
//! request: async-graphql validates every request it executes, walking the
//! whole document against the schema, though a stored document's text
//! never changes. The first request of a stored document is validated as
//! any other; its result is kept with the document, and later requests
//! take it, after `variables` has checked their variables (the only part
//! of validation that differs between requests).

use std::sync::{Arc, OnceLock};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{ServerError, ValidationResult};

/// A stored document's validation, once done: put in a request's data to
/// use it (and to fill it, on the first request).
#[derive(Clone, Default)]
pub struct ValidatedOnce(pub Arc<OnceLock<ValidationResult>>);

impl ValidatedOnce {
    pub fn is_done(&self) -> bool {
        self.0.get().is_some()
    }
}

/// The schema extension that does it.
pub struct ValidateOnce;

impl ExtensionFactory for ValidateOnce {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ValidateOnceExtension)
    }
}

struct ValidateOnceExtension;

#[async_trait::async_trait]
impl Extension for ValidateOnceExtension {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let Some(once) = ctx.data_opt::<ValidatedOnce>() else {
            return next.run(ctx).await;
        };
        if let Some(result) = once.0.get() {
            return Ok(*result);
        }
        let result = next.run(ctx).await?;
        let _ = once.0.set(result);
        Ok(result)
    }
}
