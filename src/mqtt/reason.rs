//! Reason codes the driver decides, by name. MQTT 5.0 sends them in acknowledgements; 3.1.1
//! has fewer (or none) and each builder maps them down (`ack::send`, `subscribe::suback`).

use mqtt_protocol_core::mqtt::result_code::{
    PubackReasonCode, PubcompReasonCode, PubrecReasonCode, SubackReasonCode, SubackReturnCode,
};

/// A PUBACK / PUBREC / PUBCOMP / SUBACK outcome (MQTT 5.0 §2.4). Ordered by code, so the worse
/// of two outcomes is their `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reason {
    Success = 0x00,
    NoMatchingSubscribers = 0x10,
    UnspecifiedError = 0x80,
    ImplementationSpecificError = 0x83,
    NotAuthorized = 0x87,
    TopicFilterInvalid = 0x8F,
    PacketIdentifierNotFound = 0x92,
    QuotaExceeded = 0x97,
}

impl Reason {
    /// A failure (≥ 0x80): for QoS 2, the exchange ends with it.
    pub fn failed(self) -> bool {
        self as u8 >= 0x80
    }

    pub fn puback(self) -> PubackReasonCode {
        PubackReasonCode::try_from(self as u8).unwrap_or(PubackReasonCode::UnspecifiedError)
    }

    pub fn pubrec(self) -> PubrecReasonCode {
        PubrecReasonCode::try_from(self as u8).unwrap_or(PubrecReasonCode::UnspecifiedError)
    }

    pub fn pubcomp(self) -> PubcompReasonCode {
        PubcompReasonCode::try_from(self as u8).unwrap_or(PubcompReasonCode::PacketIdentifierNotFound)
    }
}

/// One SUBACK entry: the QoS granted, or why the filter was refused.
pub type Granted = Result<u8, Reason>;

pub fn suback_v5(g: Granted) -> SubackReasonCode {
    match g {
        Ok(0) => SubackReasonCode::GrantedQos0,
        Ok(1) => SubackReasonCode::GrantedQos1,
        Ok(_) => SubackReasonCode::GrantedQos2,
        Err(Reason::TopicFilterInvalid) => SubackReasonCode::TopicFilterInvalid,
        Err(Reason::NotAuthorized) => SubackReasonCode::NotAuthorized,
        Err(Reason::QuotaExceeded) => SubackReasonCode::QuotaExceeded,
        Err(_) => SubackReasonCode::UnspecifiedError,
    }
}

/// 3.1.1 has one failure code for every refusal.
pub fn suback_v3(g: Granted) -> SubackReturnCode {
    match g {
        Ok(0) => SubackReturnCode::SuccessMaximumQos0,
        Ok(1) => SubackReturnCode::SuccessMaximumQos1,
        Ok(_) => SubackReturnCode::SuccessMaximumQos2,
        Err(_) => SubackReturnCode::Failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_specification() {
        assert_eq!(Reason::NoMatchingSubscribers.puback() as u8, 0x10);
        assert_eq!(Reason::NotAuthorized.pubrec() as u8, 0x87);
        assert_eq!(Reason::QuotaExceeded.puback() as u8, 0x97);
        assert_eq!(Reason::PacketIdentifierNotFound.pubcomp() as u8, 0x92);
        assert_eq!(Reason::Success.max(Reason::ImplementationSpecificError), Reason::ImplementationSpecificError);
        assert!(!Reason::NoMatchingSubscribers.failed() && Reason::UnspecifiedError.failed());
    }
}
