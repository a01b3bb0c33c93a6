mod smoke;
mod util;
mod migrate;
mod inspect;
mod existing;
