//! What a parsed statement is, in a word ([`StatementKind`]), and which tables it writes.
//! Tables it only reads are collected by the walk (`walk.rs`) and listed after these.

use sqlparser::ast::{
    CopySource, FromTable, ObjectType, SetExpr, Statement as AstStatement, TableFactor,
    TableObject, TableWithJoins,
};

use crate::report::StatementKind;

/// The kind of `stmt` and the tables it creates, changes or removes.
pub(crate) fn describe(stmt: &AstStatement) -> (StatementKind, Vec<String>) {
    use StatementKind as K;
    let names =
        |names: &[sqlparser::ast::ObjectName]| names.iter().map(ToString::to_string).collect();
    match stmt {
        AstStatement::Query(query) => {
            let mut body = &*query.body;
            loop {
                match body {
                    SetExpr::Query(inner) => body = &inner.body,
                    SetExpr::Insert(inner)
                    | SetExpr::Update(inner)
                    | SetExpr::Delete(inner)
                    | SetExpr::Merge(inner) => return describe(inner),
                    // MySQL's `SELECT … INTO @v` sets variables; elsewhere INTO names a new
                    // table.
                    SetExpr::Select(select) if select.into.is_some() => {
                        let into: Vec<String> = select
                            .into
                            .iter()
                            .flat_map(|into| &into.targets)
                            .map(ToString::to_string)
                            .collect();
                        if into.iter().all(|target| target.starts_with('@')) {
                            break;
                        }
                        return (K::CreateTable, into);
                    }
                    _ => break,
                }
            }
            // `WITH d AS (DELETE …) SELECT …` is a DELETE, whatever it selects.
            let modifying = query
                .with
                .iter()
                .flat_map(|with| &with.cte_tables)
                .find_map(|cte| match &*cte.query.body {
                    SetExpr::Insert(inner)
                    | SetExpr::Update(inner)
                    | SetExpr::Delete(inner)
                    | SetExpr::Merge(inner) => Some(inner),
                    _ => None,
                });
            match modifying {
                Some(inner) => describe(inner),
                None => (K::Select, Vec::new()),
            }
        }
        AstStatement::Insert(insert) => {
            let table = match &insert.table {
                TableObject::TableName(name) => vec![name.to_string()],
                _ => Vec::new(),
            };
            (K::Insert, table)
        }
        AstStatement::Update(update) => (K::Update, table_of(&update.table)),
        AstStatement::Delete(delete) => {
            let mut tables: Vec<String> = names(&delete.tables);
            if tables.is_empty() {
                let from = match &delete.from {
                    FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => from,
                };
                tables.extend(from.iter().flat_map(table_of));
            }
            (K::Delete, tables)
        }
        AstStatement::Merge(merge) => (K::Merge, factor_name(&merge.table).into_iter().collect()),
        AstStatement::CreateTable(create) => (K::CreateTable, vec![create.name.to_string()]),
        AstStatement::CreateVirtualTable { name, .. } => (K::CreateTable, vec![name.to_string()]),
        AstStatement::CreateView(view) => (K::CreateView, vec![view.name.to_string()]),
        AstStatement::CreateIndex(index) => (K::CreateIndex, vec![index.table_name.to_string()]),
        AstStatement::CreateSequence { .. } => (K::CreateSequence, Vec::new()),
        AstStatement::CreateSchema { .. } => (K::CreateSchema, Vec::new()),
        AstStatement::CreateDatabase { .. } => (K::CreateDatabase, Vec::new()),
        AstStatement::CreateFunction(_) | AstStatement::CreateMacro { .. } => {
            (K::CreateFunction, Vec::new())
        }
        AstStatement::CreateProcedure { .. } => (K::CreateProcedure, Vec::new()),
        AstStatement::CreateTrigger(trigger) => {
            (K::CreateTrigger, vec![trigger.table_name.to_string()])
        }
        AstStatement::CreateRole(_) => (K::CreateRole, Vec::new()),
        AstStatement::CreateUser(_) => (K::CreateUser, Vec::new()),
        AstStatement::CreateExtension(_)
        | AstStatement::CreateType { .. }
        | AstStatement::CreateDomain(_)
        | AstStatement::CreatePolicy(_)
        | AstStatement::CreateServer(_)
        | AstStatement::CreateForeignTable(_)
        | AstStatement::CreateCollation(_)
        | AstStatement::CreateAggregate(_) => (K::CreateOther, Vec::new()),
        AstStatement::AlterTable(alter) => (K::AlterTable, vec![alter.name.to_string()]),
        AstStatement::AlterRole { .. } => (K::AlterRole, Vec::new()),
        AstStatement::AlterUser(_) => (K::AlterUser, Vec::new()),
        AstStatement::AlterView(view) => (K::AlterOther, vec![view.name.to_string()]),
        AstStatement::AlterSchema(_)
        | AstStatement::AlterIndex { .. }
        | AstStatement::AlterFunction(_)
        | AstStatement::AlterType(_)
        | AstStatement::AlterPolicy(_)
        | AstStatement::AlterTrigger(_) => (K::AlterOther, Vec::new()),
        AstStatement::Drop {
            object_type,
            names: dropped,
            ..
        } => {
            let kind = match object_type {
                ObjectType::Table | ObjectType::ForeignTable => K::DropTable,
                ObjectType::View | ObjectType::MaterializedView => K::DropView,
                ObjectType::Index => K::DropIndex,
                ObjectType::Schema => K::DropSchema,
                ObjectType::Database => K::DropDatabase,
                ObjectType::Role | ObjectType::Group => K::DropRole,
                ObjectType::User => K::DropUser,
                _ => K::DropOther,
            };
            let tables = match object_type {
                ObjectType::Table
                | ObjectType::ForeignTable
                | ObjectType::View
                | ObjectType::MaterializedView => names(dropped),
                _ => Vec::new(),
            };
            (kind, tables)
        }
        AstStatement::DropFunction(_)
        | AstStatement::DropProcedure { .. }
        | AstStatement::DropTrigger(_)
        | AstStatement::DropDomain(_)
        | AstStatement::DropExtension(_)
        | AstStatement::DropPolicy(_)
        | AstStatement::DropRule(_)
        | AstStatement::DropOperator(_)
        | AstStatement::DropOperatorFamily(_)
        | AstStatement::DropOperatorClass(_)
        | AstStatement::DropSecret { .. }
        | AstStatement::DropConnector { .. } => (K::DropOther, Vec::new()),
        AstStatement::RenameTable(renames) => (
            K::Rename,
            renames.iter().map(|r| r.old_name.to_string()).collect(),
        ),
        AstStatement::Truncate(truncate) => (
            K::Truncate,
            truncate
                .table_names
                .iter()
                .map(|t| t.name.to_string())
                .collect(),
        ),
        AstStatement::Grant(_) | AstStatement::GrantRole(_) | AstStatement::Deny(_) => {
            (K::Grant, Vec::new())
        }
        AstStatement::Revoke(_) | AstStatement::RevokeRole(_) => (K::Revoke, Vec::new()),
        AstStatement::StartTransaction { .. } => (K::Begin, Vec::new()),
        AstStatement::Commit { .. } => (K::Commit, Vec::new()),
        AstStatement::Rollback { .. } => (K::Rollback, Vec::new()),
        AstStatement::Savepoint { .. } => (K::Savepoint, Vec::new()),
        AstStatement::ReleaseSavepoint { .. } => (K::ReleaseSavepoint, Vec::new()),
        AstStatement::Set(_) | AstStatement::Reset(_) | AstStatement::Pragma { .. } => {
            (K::Set, Vec::new())
        }
        AstStatement::Lock(lock) => (
            K::Lock,
            lock.tables.iter().map(|t| t.name.to_string()).collect(),
        ),
        AstStatement::LockTables { tables } => (
            K::Lock,
            tables.iter().map(|t| t.table.to_string()).collect(),
        ),
        AstStatement::UnlockTables => (K::Lock, Vec::new()),
        AstStatement::Copy { source, .. } => {
            let table = match source {
                CopySource::Table { table_name, .. } => vec![table_name.to_string()],
                CopySource::Query(_) => Vec::new(),
            };
            (K::Copy, table)
        }
        AstStatement::LoadData { table_name, .. } => (K::Load, vec![table_name.to_string()]),
        AstStatement::Load { .. } => (K::Load, Vec::new()),
        AstStatement::Call(_) | AstStatement::Execute { .. } => (K::Call, Vec::new()),
        AstStatement::Vacuum(_) => (K::Vacuum, Vec::new()),
        AstStatement::Explain { .. } | AstStatement::ExplainTable { .. } => {
            (K::Explain, Vec::new())
        }
        AstStatement::ShowFunctions { .. }
        | AstStatement::ShowVariable { .. }
        | AstStatement::ShowStatus { .. }
        | AstStatement::ShowVariables { .. }
        | AstStatement::ShowCreate { .. }
        | AstStatement::ShowColumns { .. }
        | AstStatement::ShowDatabases { .. }
        | AstStatement::ShowSchemas { .. }
        | AstStatement::ShowTables { .. }
        | AstStatement::ShowViews { .. }
        | AstStatement::ShowCollation { .. } => (K::Show, Vec::new()),
        _ => (K::Other, Vec::new()),
    }
}

/// How strong a statement kind is as an effect on data, for classifying a statement by the
/// strongest thing anything in it does: a query that only reads is weakest, then a call of
/// code the analyzer cannot see into, then the writes. `None` for kinds that are not ranked
/// (DDL and the rest keep their own kind).
pub(crate) fn strength(kind: StatementKind) -> Option<u8> {
    use StatementKind as K;
    match kind {
        K::Select | K::Explain => Some(0),
        K::Call => Some(1),
        K::Insert => Some(2),
        K::Merge => Some(3),
        K::Update => Some(4),
        K::Delete => Some(5),
        _ => None,
    }
}

/// Whether an `EXPLAIN` runs the statement it explains: `EXPLAIN ANALYZE`, or PostgreSQL's
/// `EXPLAIN (ANALYZE)` / `(ANALYZE true)` option (PostgreSQL, and MySQL 8 for what it
/// accepts, execute the statement to measure it).
pub(crate) fn explain_runs(stmt: &AstStatement) -> bool {
    let AstStatement::Explain {
        analyze, options, ..
    } = stmt
    else {
        return false;
    };
    *analyze
        || options.iter().flatten().any(|option| {
            option.name.value.eq_ignore_ascii_case("analyze")
                && match &option.arg {
                    None => true,
                    Some(arg) => {
                        let arg = arg.to_string();
                        !["false", "off", "0", "'false'", "'off'", "'0'"]
                            .iter()
                            .any(|no| arg.eq_ignore_ascii_case(no))
                    }
                }
        })
}

/// The name of the table `stmt` creates, if it is a `CREATE TABLE`.
pub(crate) fn created_table(stmt: &AstStatement) -> Option<String> {
    match stmt {
        AstStatement::CreateTable(create) => Some(create.name.to_string()),
        _ => None,
    }
}

fn table_of(table: &TableWithJoins) -> Vec<String> {
    factor_name(&table.relation).into_iter().collect()
}

fn factor_name(factor: &TableFactor) -> Option<String> {
    match factor {
        TableFactor::Table { name, .. } => Some(name.to_string()),
        _ => None,
    }
}
