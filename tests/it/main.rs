//! Behaviour tests through real sockets: one integration binary (faster to build), one
//! behaviour per module. Tests that check a normative statement of the MQTT spec are named
//! after it (`mqtt_3_3_1_4_...`).

mod harness;

mod basic;
