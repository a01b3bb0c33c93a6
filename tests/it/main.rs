mod smoke;
mod util;
mod migrate;
