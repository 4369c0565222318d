//! Serde plumbing that makes our types read JSON the way Go's encoding/json fills Ignition's
//! structs: `null` (as a field or as a list element) is the zero value, and an object is
//! required where a struct belongs (serde would also accept a JSON array there).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// JSON `null` means "unset" in Ignition (Go zero values), for fields and for list elements
/// alike: `"users": [null]` is one user with an empty name.
pub trait Unset: Sized {
    fn deserialize_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

impl Unset for String {
    fn deserialize_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
    }
}

impl<T: for<'a> Deserialize<'a>> Unset for Option<T> {
    fn deserialize_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(d)
    }
}

/// A list element read through `Unset`.
struct Elem<T>(T);

impl<'de, T: Unset> Deserialize<'de> for Elem<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize_nullable(d).map(Elem)
    }
}

impl<T: Unset> Unset for Vec<T> {
    fn deserialize_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Option::<Vec<Elem<T>>>::deserialize(d)?.unwrap_or_default();
        Ok(items.into_iter().map(|e| e.0).collect())
    }
}

/// Reads a struct from an object, or its default from `null`; arrays are rejected.
pub fn struct_or_null<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    d.deserialize_option(StructOrNull(PhantomData))
}

struct StructOrNull<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for StructOrNull<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::deserialize(MapOnly(d))
    }
}

/// A deserializer that hands structs only maps: `visit_seq` becomes a type error.
struct MapOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for MapOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(NoSeq(v))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, NoSeq(v))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Forwards maps to the inner visitor and refuses everything else.
struct NoSeq<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for NoSeq<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(map)
    }
}
