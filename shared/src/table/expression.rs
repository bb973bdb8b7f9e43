//! Condition and update expressions with their placeholders, built as values and applied to any
//! request builder in one call, so a rule (a status guard, the quota's "fits") is written once and
//! combined with others by `and`.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::builders::{ConditionCheckBuilder, DeleteBuilder, PutBuilder, UpdateBuilder};
use aws_sdk_dynamodb::types::AttributeValue;

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Expr {
    condition: Option<String>,
    update: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    pub fn condition(text: impl Into<String>) -> Self {
        Self { condition: Some(text.into()), ..Self::default() }
    }

    pub fn update(text: impl Into<String>) -> Self {
        Self { update: Some(text.into()), ..Self::default() }
    }

    pub fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names.insert(placeholder.to_owned(), attribute.to_owned());
        self
    }

    pub fn value(mut self, placeholder: impl Into<String>, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }

    /// Both expressions: conditions joined with AND, updates joined as clauses. Placeholders
    /// must agree where both use the same one (they name the same attribute or value).
    pub fn and(mut self, other: Expr) -> Self {
        self.condition = match (self.condition.take(), other.condition) {
            (Some(a), Some(b)) => Some(format!("({a}) AND ({b})")),
            (a, b) => a.or(b),
        };
        self.update = match (self.update.take(), other.update) {
            (Some(a), Some(b)) => Some(format!("{a} {b}")),
            (a, b) => a.or(b),
        };
        for (placeholder, name) in other.names {
            debug_assert!(self.names.get(&placeholder).is_none_or(|n| *n == name), "{placeholder} reused");
            self.names.insert(placeholder, name);
        }
        for (placeholder, value) in other.values {
            debug_assert!(self.values.get(&placeholder).is_none_or(|v| *v == value), "{placeholder} reused");
            self.values.insert(placeholder, value);
        }
        self
    }

    #[cfg(test)]
    pub fn condition_text(&self) -> Option<&str> {
        self.condition.as_deref()
    }

    #[cfg(test)]
    pub fn update_text(&self) -> Option<&str> {
        self.update.as_deref()
    }

    #[cfg(test)]
    pub fn value_of(&self, placeholder: &str) -> Option<&AttributeValue> {
        self.values.get(placeholder)
    }

    fn parts(self) -> Parts {
        // DynamoDB refuses empty placeholder maps.
        let names = (!self.names.is_empty()).then_some(self.names);
        let values = (!self.values.is_empty()).then_some(self.values);
        (self.condition, self.update, names, values)
    }
}

/// An expression as request builders take it: condition, update, names, values.
type Parts = (Option<String>, Option<String>, Option<HashMap<String, String>>, Option<HashMap<String, AttributeValue>>);

/// Request builders that take an expression.
pub(crate) trait WithExpr {
    fn with(self, expr: Expr) -> Self;
}

macro_rules! with_condition {
    ($($builder:ty),*) => {$(
        impl WithExpr for $builder {
            fn with(self, expr: Expr) -> Self {
                let (condition, update, names, values) = expr.parts();
                debug_assert!(update.is_none(), "this request takes no update expression");
                self.set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
            }
        }
    )*};
}

macro_rules! with_condition_and_update {
    ($($builder:ty),*) => {$(
        impl WithExpr for $builder {
            fn with(self, expr: Expr) -> Self {
                let (condition, update, names, values) = expr.parts();
                self.set_condition_expression(condition)
                    .set_update_expression(update)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
            }
        }
    )*};
}

with_condition!(PutBuilder, DeleteBuilder, ConditionCheckBuilder, PutItemFluentBuilder, DeleteItemFluentBuilder);
with_condition_and_update!(UpdateBuilder, UpdateItemFluentBuilder);

/// Queries take their filter as the condition part.
impl WithExpr for QueryFluentBuilder {
    fn with(self, expr: Expr) -> Self {
        let (filter, update, names, values) = expr.parts();
        debug_assert!(update.is_none(), "a query takes no update expression");
        self.set_filter_expression(filter).set_expression_attribute_names(names).set_expression_attribute_values(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_and_updates_combine() {
        let a = Expr::condition("a = :a").value(":a", AttributeValue::N("1".into()));
        let b = Expr::condition("#b > :b").name("#b", "b").value(":b", AttributeValue::N("2".into()));
        let both = a.and(b).and(Expr::update("SET c = :a"));
        assert_eq!(both.condition_text(), Some("(a = :a) AND (#b > :b)"));
        assert_eq!(both.update_text(), Some("SET c = :a"));
        let (_, _, names, values) = both.parts();
        assert_eq!(names.unwrap().len(), 1);
        assert_eq!(values.unwrap().len(), 2);
    }

    #[test]
    fn empty_placeholder_maps_are_left_out() {
        let (condition, _, names, values) = Expr::condition("attribute_not_exists(pk)").parts();
        assert_eq!(condition.as_deref(), Some("attribute_not_exists(pk)"));
        assert!(names.is_none() && values.is_none());
    }
}
