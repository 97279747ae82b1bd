//! `/admin/articles`: master data for managers (create and change articles;
//! one without clearance keeps open articles only) and read-only for
//! auditors; staff and hubs may not open it. The form is parsed by the same
//! `ArticleDraft` as the JSON API; the façade decides who may write what.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, Head, Section};
use super::session::{csrf_refused, Viewer};
use super::stock::select;
use super::{error_page, plain_page};
use crate::depot::DepotError;
use crate::domain::access::{Action, Role};
use crate::domain::article::{ArticleDraft, Classification, Unit};
use crate::http::AppState;

/// Articles listed on the page.
const PAGE_ARTICLES: i64 = 500;

/// The article form as posted (every field text, as typed).
#[derive(Debug, Default, Deserialize)]
pub struct ArticleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    gtin: String,
    #[serde(default)]
    nsn: String,
    #[serde(default)]
    supply_class: String,
    #[serde(default)]
    classification: String,
    #[serde(default)]
    unit_weight_g: String,
    #[serde(default)]
    unit_volume_ml: String,
    lot_tracked: Option<String>,
}

pub(super) fn given(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

impl ArticleForm {
    /// The draft, or the fields that are not whole numbers.
    fn draft(&self) -> Result<ArticleDraft, Vec<String>> {
        let mut problems = Vec::new();
        let unit_weight_g = number(&mut problems, "unit_weight_g", &self.unit_weight_g);
        let unit_volume_ml = number(&mut problems, "unit_volume_ml", &self.unit_volume_ml);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ArticleDraft {
            sku: given(&self.sku),
            name: self.name.trim().to_owned(),
            unit: self.unit.clone(),
            gtin: given(&self.gtin),
            nsn: given(&self.nsn),
            supply_class: given(&self.supply_class),
            classification: given(&self.classification),
            unit_weight_g,
            unit_volume_ml,
            lot_tracked: Some(self.lot_tracked.is_some()),
            expiry_tracked: Some(self.lot_tracked.is_some()),
        })
    }
}

/// Managers keep master data; auditors read it.
pub(super) fn may_read(role: Role) -> bool {
    role.may(Action::KeepMasterData) || role == Role::Auditor
}

/// The 403 page for a role that may not open or change this.
pub(super) fn forbidden(viewer: &Viewer) -> Response {
    let t = viewer.lang.texts();
    plain_page(
        viewer.lang,
        StatusCode::FORBIDDEN,
        t.forbidden_title,
        t.forbidden_text,
    )
}

#[derive(Debug, Deserialize)]
pub struct SavedQuery {
    pub(super) saved: Option<String>,
}

/// `GET /admin/articles`.
pub async fn articles(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<SavedQuery>,
) -> Response {
    if !may_read(viewer.caller.role) {
        return forbidden(&viewer);
    }
    let note = query.saved.map(|sku| (true, sku));
    render(
        &state,
        &viewer,
        &ArticleForm::default(),
        note,
        StatusCode::OK,
    )
    .await
}

/// `POST /admin/articles`: creates or changes one article.
pub async fn save_article(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<ArticleForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return csrf_refused(viewer.lang);
    }
    if !viewer.caller.role.may(Action::KeepMasterData) {
        return forbidden(&viewer);
    }
    let article = match form.draft() {
        Ok(draft) => draft
            .parse(None)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>()),
        Err(problems) => Err(problems),
    };
    let article = match article {
        Ok(article) => article,
        Err(problems) => {
            let note = Some((false, problems.join("; ")));
            return render(
                &state,
                &viewer,
                &form,
                note,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let sku = article.sku.to_string();
    match state.depot.put_article(&viewer.caller, article).await {
        Ok(_) => Redirect::to(&format!(
            "/admin/articles?saved={}",
            layout::urlencode(&sku)
        ))
        .into_response(),
        Err(error @ (DepotError::Conflict(_) | DepotError::NeedsClearance)) => {
            let status = match error {
                DepotError::NeedsClearance => StatusCode::FORBIDDEN,
                _ => StatusCode::CONFLICT,
            };
            let note = Some((false, error.to_string()));
            render(&state, &viewer, &form, note, status).await
        }
        Err(error) => error_page(viewer.lang, &error),
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    form: &ArticleForm,
    note: Option<(bool, String)>,
    status: StatusCode,
) -> Response {
    let t = viewer.lang.texts();
    let articles = match state
        .depot
        .articles(&viewer.caller, "", PAGE_ARTICLES)
        .await
    {
        Ok(articles) => articles,
        Err(error) => return error_page(viewer.lang, &error),
    };
    let may_write = viewer.caller.role.may(Action::KeepMasterData);
    let units: Vec<(&str, &str)> = Unit::ALL.iter().map(|u| (u.as_str(), u.as_str())).collect();
    let mut classes = vec![("open", t.class_open)];
    if viewer.caller.restricted {
        classes.push(("restricted", t.class_restricted));
    }
    let class_label = |c: Classification| match c {
        Classification::Open => t.class_open,
        Classification::Restricted => t.class_restricted,
    };
    let body = html! {
        (tabs(t, "/admin/articles"))
        h1 { (t.admin_articles_title) }
        @match &note {
            Some((true, sku)) => p class="ok" role="status" { (t.saved) " " strong { (sku) } },
            Some((false, problem)) => div class="error-summary" role="alert" {
                h2 { (t.there_is_a_problem) }
                p id="article-problem" { (t.refused) " " (problem) }
            },
            None => {},
        }
        @if may_write {
            section class="panel" aria-labelledby="edit-heading" {
                h2 id="edit-heading" { (t.admin_edit) }
                form id="article-form" method="post" action="/admin/articles" class="filters" {
                    input type="hidden" name="csrf" value=(viewer.csrf_token);
                    div { label for="a-sku" { (t.sku) } input id="a-sku" name="sku" type="text" required value=(form.sku) autocapitalize="characters" spellcheck="false"; }
                    div { label for="a-name" { (t.article_name) } input id="a-name" name="name" type="text" required value=(form.name); }
                    div { label for="a-unit" { (t.unit) } (select("unit", "a-unit", &units, &form.unit)) }
                    div { label for="a-gtin" { (t.gtin) } input id="a-gtin" name="gtin" type="text" inputmode="numeric" value=(form.gtin); }
                    div { label for="a-nsn" { (t.nsn) } input id="a-nsn" name="nsn" type="text" value=(form.nsn); }
                    div { label for="a-class" { (t.supply_class) } input id="a-class" name="supply_class" type="text" value=(form.supply_class); }
                    div { label for="a-classification" { (t.classification) } (select("classification", "a-classification", &classes, &form.classification)) }
                    div { label for="a-weight" { (t.unit_weight_g) } input id="a-weight" name="unit_weight_g" type="number" min="0" value=(form.unit_weight_g); }
                    div { label for="a-volume" { (t.unit_volume_ml) } input id="a-volume" name="unit_volume_ml" type="number" min="0" value=(form.unit_volume_ml); }
                    div { label { input name="lot_tracked" type="checkbox" checked[form.lot_tracked.is_some()]; " " (t.lot_tracked) } }
                    button type="submit" class="primary" { (t.save) }
                }
            }
        } @else {
            p class="muted" { (t.admin_read_only) }
        }
        div class="scroll" {
            table id="articles" {
                thead { tr {
                    th scope="col" { (t.sku) }
                    th scope="col" { (t.article_name) }
                    th scope="col" { (t.unit) }
                    th scope="col" { (t.gtin) }
                    th scope="col" { (t.nsn) }
                    th scope="col" { (t.supply_class) }
                    th scope="col" { (t.classification) }
                } }
                tbody {
                    @for a in &articles {
                        tr {
                            td { (a.sku) }
                            td { (a.name) }
                            td { (a.unit.as_str()) }
                            td { @if let Some(g) = &a.gtin { (g.as_str()) } }
                            td { @if let Some(n) = &a.nsn { (n.to_string()) } }
                            td { @if let Some(c) = &a.supply_class { (c.as_str()) } }
                            td { (class_label(a.classification)) }
                        }
                    }
                }
            }
        }
    };
    let head = Head {
        title: t.admin_articles_title,
        section: Section::Admin,
        path: "/admin/articles",
        scripts: &[],
    };
    (status, layout::page(viewer, head, body)).into_response()
}

/// The admin pages' own navigation (articles, locations, users).
pub(super) fn tabs(t: &crate::web::i18n::Texts, current: &str) -> Markup {
    html! {
        nav class="tabs" aria-label=(t.nav_admin) {
            ul {
                @for (path, label) in [
                    ("/admin/articles", t.admin_articles_title),
                    ("/admin/locations", t.admin_locations_title),
                    ("/admin/users", t.admin_users_title),
                ] {
                    li {
                        @if path == current {
                            a href=(path) aria-current="page" { (label) }
                        } @else {
                            a href=(path) { (label) }
                        }
                    }
                }
            }
        }
    }
}

/// A whole number typed into a form field, or the problem with it.
pub(super) fn number(problems: &mut Vec<String>, field: &str, text: &str) -> Option<i64> {
    let text = given(text)?;
    text.parse::<i64>()
        .map_err(|_| problems.push(format!("{field}: '{text}' is not a whole number")))
        .ok()
}
