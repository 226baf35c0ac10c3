// The simulator's own picture of a record, before rendering. Fields a filter scans on every
// request (created, modified, archived, owner) live in RecordTable instead, so these
// objects exist only for records being rendered or changed.
import type { SelectOption } from './catalog.js';

export interface CustomValue {
  id: number;
  fieldId: number;
  /** Text, number, date and boolean values are strings ("True"), as the API renders them. */
  value: string | SelectOption[];
}

export interface ClientState {
  title: string | null;
  firstname: string | null;
  lastname: string | null;
  organization_name: string | null;
  customer_type: number;
  vat_number: string | null;
  register_number: string | null;
  id_number: string | null;
  home_department: number | null;
  street_address: string | null;
  street_address_2: string | null;
  street_address_3: string | null;
  zip_code: string | null;
  city: string | null;
  state: string | null;
  country: string | null;
  email: string | null;
  alt_emails: string | null;
  critical_notes: string | null;
  remarks: string | null;
  no_sms: boolean;
  no_email: boolean;
  external: boolean;
  imported: boolean;
  invoicing_client: number | null;
  tags: number[];
  status_type: number | null;
  created_user: number | null;
  modified_user: number | null;
  values: CustomValue[];
}

export interface PatientState {
  name: string;
  official_name: string | null;
  species_code: number;
  breed_code: number | null;
  gender: string | null;
  weight: string | null;
  date_of_birth: string | null;
  deceased: string | null;
  microchip: string | null;
  home_department: number | null;
  tags: number[];
  date_of_registration: string | null;
  remarks: string | null;
  insurance: boolean;
  insurance_company: string | null;
  old_patient_id: string | null;
  reason_of_death: string | null;
  color: string | null;
  passport_number: string | null;
  critical_notes: string | null;
  values: CustomValue[];
}

export interface PhoneState {
  phone_number: string;
  type_code: number;
  description: string | null;
  is_secondary_owners_phone_number: boolean;
}

export type RecordKind = 'client' | 'patient';
