//! Issue comments (on pull requests): `issues/{n}/comments` and `issues/comments/{id}`.

use std::collections::HashMap;

use serde_json::Value;

use super::ctx::Ctx;
use super::pagination::page;
use super::wire::{ApiError, R, Resp, bad_field, missing, not_found, s};
use crate::json::{self as j, now};
use crate::state::Comment;

impl Ctx<'_> {
    pub(super) fn list_comments(&self, n: &str, q: &HashMap<String, String>) -> R {
        let p = self.find_pull(n)?;
        let items = self.read(|d| {
            d.comments
                .iter()
                .filter(|c| c.issue == p.number)
                .map(|c| j::comment(self.base(), &self.full, c))
                .collect()
        });
        Ok(page(
            items,
            q,
            &self.url(&format!("issues/{}/comments", p.number)),
        ))
    }

    pub(super) fn create_comment(&self, n: &str, b: &Value) -> R {
        let p = self.find_pull(n)?;
        let Some(body) = s(b, "body")?.filter(|b| !b.is_empty()) else {
            return Err(missing("IssueComment", "body"));
        };
        if body.chars().count() > 65536 {
            return Err(bad_field("IssueComment", "body"));
        }
        let t = now();
        let c = self.write(|d, id| {
            let c = Comment {
                id: id(),
                issue: p.number,
                user: self.login.to_owned(),
                body: body.to_owned(),
                created_at: t,
                updated_at: t,
            };
            d.comments.push(c.clone());
            c
        })?;
        let url = self.url(&format!("issues/comments/{}", c.id));
        Ok(Resp::json(201, j::comment(self.base(), &self.full, &c)).header("location", url))
    }

    fn find_comment(&self, id: &str) -> Result<Comment, ApiError> {
        let id: u64 = id.parse().map_err(|_| not_found())?;
        self.read(|d| d.comments.iter().find(|c| c.id == id).cloned())
            .ok_or_else(not_found)
    }

    pub(super) fn get_comment(&self, id: &str) -> R {
        let c = self.find_comment(id)?;
        Ok(Resp::json(200, j::comment(self.base(), &self.full, &c)))
    }

    pub(super) fn update_comment(&self, id: &str, b: &Value) -> R {
        let c = self.find_comment(id)?;
        let Some(body) = s(b, "body")?.filter(|b| !b.is_empty()) else {
            return Err(missing("IssueComment", "body"));
        };
        let t = now();
        let c = self.write(|d, _| {
            let x = d.comments.iter_mut().find(|x| x.id == c.id)?;
            body.clone_into(&mut x.body);
            x.updated_at = t;
            Some(x.clone())
        })?;
        let c = c.ok_or_else(not_found)?;
        Ok(Resp::json(200, j::comment(self.base(), &self.full, &c)))
    }

    pub(super) fn delete_comment(&self, id: &str) -> R {
        let c = self.find_comment(id)?;
        self.write(|d, _| d.comments.retain(|x| x.id != c.id))?;
        Ok(Resp::empty(204))
    }
}
