//! Work after the response: jobs are rows in the `outbox` table, written in
//! the same transaction as the change that causes them, and run by a worker
//! in every server process after the commit. A crash between commit and run
//! loses nothing: the row is still there. Every job is idempotent (natural
//! unique keys on what it writes), because delivery is at least once.

pub mod outbox;
pub mod worker;

use serde::{Deserialize, Serialize};

/// A job and its arguments; stored as JSON in `outbox.payload`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Job {
    /// NEW_FOLLOWER for the followed user.
    NotifyFollower { follower_id: i64, followee_id: i64 },
    /// ARTICLE_FAVORITED for the article's author.
    NotifyFavorite { user_id: i64, article_id: i64 },
    /// NEW_COMMENT for the article's author.
    NotifyComment { comment_id: i64 },
    /// NEW_ARTICLE for every follower of the author, one batch per run: the
    /// next batch is a new job starting after the last follower done.
    FanOutNewArticle {
        article_id: i64,
        after_follower: i64,
    },
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::NotifyFollower { .. } => "NotifyFollower",
            Job::NotifyFavorite { .. } => "NotifyFavorite",
            Job::NotifyComment { .. } => "NotifyComment",
            Job::FanOutNewArticle { .. } => "FanOutNewArticle",
        }
    }
}
