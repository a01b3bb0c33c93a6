mod smoke;
mod util;
mod migrate;
mod inspect;
mod existing;
mod alembic_smoke;
mod plan;
