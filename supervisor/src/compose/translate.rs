//! The compose model → the project plan.  (placeholder until the model crate lands)

use crate::compose::cli::{ComposeArgs, ConfigArgs};
use crate::compose::error::ComposeError;
use crate::compose::project::ProjectPlan;

pub fn load(_a: &ComposeArgs) -> Result<ProjectPlan, ComposeError> {
    Err(ComposeError::Model("not yet".into()))
}

pub fn is_missing_files(_e: &ComposeError) -> bool {
    false
}

pub fn config(_a: &ComposeArgs, _c: &ConfigArgs) -> Result<(), ComposeError> {
    Err(ComposeError::Model("not yet".into()))
}
