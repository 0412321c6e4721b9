//! The discussion of a request (design §12): who may comment (`core::permission::may_comment`),
//! what a comment may hold (`core::comment`), and the comments as the API and pages show them.

use countersign_core::comment::NewComment;
use countersign_core::permission;
use countersign_core::user::User;

use crate::AppState;
use crate::error::ApiError;
use crate::views::CommentView;

impl AppState {
    /// Adds `user`'s comment to request `id`; returns it.
    pub async fn add_comment(
        &self,
        id: i64,
        user: &User,
        comment: NewComment,
    ) -> Result<CommentView, ApiError> {
        permission::may_comment(user)?;
        comment.validate()?;
        Ok(self
            .store
            .add_comment(id, user, &comment.text)
            .await?
            .into())
    }

    /// The discussion of request `id`, oldest first.
    pub async fn comments_of(&self, id: i64) -> Result<Vec<CommentView>, ApiError> {
        Ok(self
            .store
            .comments(id)
            .await?
            .into_iter()
            .map(CommentView::from)
            .collect())
    }
}
